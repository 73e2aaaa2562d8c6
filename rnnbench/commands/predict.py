"""Label new text with a model that `rnnbench train --out DIR` wrote.

Each record is tokenized as in training, cut to the model's max_len, and encoded with the training
vocabulary (a token never seen in training counts as <unk>). One line is printed per record:

    LABEL<TAB>PROBABILITY[<TAB>LABEL<TAB>PROBABILITY ...]<TAB>TEXT

the --top K most probable classes, most probable first. The model folder is read without running any
of its contents (plain JSON and arrays, checked against their checksums).

examples:
  rnnbench predict runs/names Kowalski Nakamura O'Brien
  rnnbench predict runs/names --input new_names.txt --top 3
  cut -d, -f1 test.csv | rnnbench predict runs/sentiment --input - --impl torch-autograd
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import impls
from impls import FrameworkUnavailableError, InputError
from rnnbench.commands import arguments
from rnnbench.data.sources import BOM, not_utf8_at, read_text
from rnnbench.training.model_files import load_model
from rnnbench.training.predict import predict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("model", metavar="DIR", help="a model folder written by `rnnbench train --out DIR`")
    add("texts", nargs="*", metavar="TEXT", help="records to label (or use --input); options may come between them")
    parser.set_defaults(trailing_positionals="texts")
    add(
        "--input",
        metavar="FILE",
        help="read the records from FILE, one a line (UTF-8; blank lines skipped); - = standard input",
    )
    add(
        "--top",
        type=arguments.positive_int,
        default=1,
        metavar="K",
        help="print the K most probable classes (default: 1)",
    )
    add(
        "--impl",
        default="numpy-bptt",
        help=f"implementation to run the model with: {', '.join(impls.names())} (default: %(default)s)",
    )
    add("--device", default="cpu", help="device: cpu, or cuda for the torch implementations (default: %(default)s)")
    add(
        "--threads",
        type=arguments.positive_int,
        default=1,
        metavar="N",
        help="threads the framework may use (default: 1)",
    )


def read_records(texts: list[str], input_path: str | None) -> list[str]:
    """The records to label: texts, or the lines of input_path ("-" = standard input), each stripped."""
    if texts and input_path is not None:
        raise InputError("give the records as TEXT arguments or with --input, not both")
    if input_path is None:
        if not texts:
            raise InputError("no records to label: give TEXT arguments, or --input FILE (- for standard input)")
        records = [t.strip() for t in texts]
        empty = [i + 1 for i, t in enumerate(records) if not t]
        if empty:
            raise InputError(f"record {empty[0]} is empty: there is nothing to label")
        return records
    if input_path == "-":
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"standard input is not valid UTF-8: {not_utf8_at(data, e)}") from None
    else:
        text = read_text(input_path, "input file")
    records = [line.strip() for line in text.removeprefix(BOM).splitlines()]
    records = [r for r in records if r]
    if not records:
        raise InputError(f"{'standard input' if input_path == '-' else repr(input_path)} holds no records")
    return records


SHOWN_AS = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})  # one record, one line


def format_line(classes: list[str], probs: np.ndarray, top: int, text: str) -> str:
    """LABEL<TAB>P[<TAB>LABEL<TAB>P ...]<TAB>TEXT for one record's probabilities (C,); a tab or line break
    in TEXT is printed as \\t, \\n or \\r (and a backslash as \\\\), so that each record is one line."""
    best = np.argsort(-probs, kind="stable")[:top]
    return "\t".join([*(f"{classes[c]}\t{probs[c]:.4f}" for c in best), text.translate(SHOWN_AS)])


def run(args: argparse.Namespace) -> int:
    """`rnnbench predict`: 0 on success, 2 for bad input, a missing or damaged model, or a missing framework."""
    try:
        records = read_records(args.texts, args.input)
        saved = load_model(args.model)
        probs, unknown, total = predict(saved, records, args.impl, args.device, args.threads)
    except (InputError, FrameworkUnavailableError) as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnbench: interrupted", file=sys.stderr)
        return 130
    top = min(args.top, saved.config.num_classes)
    try:
        for text, row in zip(records, probs, strict=True):
            print(format_line(saved.classes, row, top, text))
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted; no error at exit's flush either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if unknown:
        print(
            f"note: {unknown} of {total} tokens are not in the model's vocabulary and count as <unk>", file=sys.stderr
        )
    return 0
