"""Where records come from: the data-set specs and the readers behind them.

A data set is named by a spec (wordfreq is imported only when asked for):

    wordfreq:en,fr,de            (the default) the most frequent words of each language in the wordfreq
                                 package, labelled by language: "a word's language from its letters".
                                 Options among the languages: n=5000 words kept per language (per_class
                                 overrides it), alpha=1 keeps only alphabetic words (no digits, apostrophes,
                                 dots; alpha=0 keeps every entry). Words are taken in frequency order; a
                                 word that is also among the 3n most frequent words of another chosen
                                 language is dropped from all of them. `wordfreq:n=1000` keeps en,fr,de.
                                 wordfreq's lists are already lower-cased, so there is no case option.
    folder:PATH                  one PATH/<label>.txt per class, one example per line, UTF-8, blank lines
                                 skipped (the layout of the PyTorch name-classification tutorial data).
    csv:PATH[,text=COL,label=COL,header=1|0]
                                 rows read with the csv module; the text and label columns are found by
                                 the names in a header row, chosen by name or by index from 0, or are the
                                 two columns of a 2-column file. A header row is recognised whatever it
                                 is called and is never a record; see rnnbench.data.csv_source for the rule.
    synthetic[:n=1000,length=8,vocab=60,classes=10,rule=first,seed=0]
                                 n random sequences of 1..length tokens from `vocab` symbols; the label is
                                 the id of the first (rule=first) or last (rule=last) symbol mod classes.

A bare path is read as folder:PATH when it is a directory and as csv:PATH when it ends in .csv.

Each reader returns (text, label name) examples; rnnbench.data.dataset tokenizes, splits and encodes them.
"""

from __future__ import annotations

import os
import string
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from impls.core import InputError
from rnnbench.data import csv_source

DEFAULT_DATA = "wordfreq:en,fr,de"
SOURCES: tuple[str, ...] = ("wordfreq", "folder", "csv", "synthetic")
WORDFREQ_DEFAULT_N = 5000
WORDFREQ_LOOKAHEAD = 3  # a word is "in another language" if among that language's LOOKAHEAD * n top words
SYNTHETIC_DEFAULTS: dict[str, int | str] = {
    "n": 1000,
    "length": 8,
    "vocab": 60,
    "classes": 10,
    "rule": "first",
    "seed": 0,
}
SYNTHETIC_SYMBOLS = string.ascii_letters + string.digits  # symbol i; past these, chr(0x4E00 + i) (CJK)
SYNTHETIC_MAX_VOCAB = 20000

Example = tuple[str, str]  # (text, label name)
BOM = "\ufeff"


def parse_spec(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"a data spec must be a non-empty string such as {DEFAULT_DATA!r}, got {spec!r}")
    kind, _, arg = spec.strip().partition(":")
    if kind in SOURCES:
        return kind, arg.strip()
    if os.path.isdir(spec):
        return "folder", spec
    path = csv_source.peel_options(spec)[0]  # a bare CSV path may carry the csv options too
    if path.lower().endswith(".csv") and os.path.isfile(path):
        return "csv", spec
    raise InputError(
        f"unknown data source {kind!r} in spec {spec!r}; use one of: "
        f"{DEFAULT_DATA}, folder:PATH, csv:PATH[,text=COL,label=COL,header=1|0], "
        "synthetic[:n=..,length=..,vocab=..,classes=..]"
    )


def absolute_spec(spec: str, base: str | None = None) -> str:
    """spec with its folder or file path made absolute against base (default: the current folder), so
    that a process started in another folder (a benchmark worker) reads the same data; InputError for a
    spec that parse_spec refuses. A bare path becomes folder:PATH or csv:PATH."""
    kind, arg = parse_spec(spec)
    if kind == "folder" and arg:
        return f"folder:{os.path.abspath(os.path.join(base or os.getcwd(), arg))}"
    if kind == "csv":
        path, pairs = csv_source.peel_options(arg)
        if path:
            path = os.path.abspath(os.path.join(base or os.getcwd(), path))
            return ",".join([f"csv:{path}", *(f"{key}={value}" for key, value in pairs)])
    return spec


def _options(spec: str, items: list[str], allowed: dict[str, object]) -> dict[str, object]:
    """key=value items -> typed options (the type of each default), with clear errors."""
    out: dict[str, object] = {}
    for item in items:
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key not in allowed:
            raise InputError(f"unknown option {key!r} in data spec {spec!r}; options: {', '.join(allowed)}")
        if isinstance(allowed[key], int):
            try:
                out[key] = int(value)
            except ValueError:
                raise InputError(f"option {key} in data spec {spec!r} must be an integer, got {value!r}") from None
        else:
            out[key] = value
    return out


def _wordfreq(spec: str, arg: str, per_class: int | None) -> list[Example]:
    items = [s.strip() for s in arg.split(",") if s.strip()]
    opts = _options(spec, [s for s in items if "=" in s], {"n": WORDFREQ_DEFAULT_N, "alpha": 1})
    langs = [s for s in items if "=" not in s] or ["en", "fr", "de"]
    if len(langs) < 2:
        raise InputError(f"data spec {spec!r} needs at least two languages to tell apart, e.g. {DEFAULT_DATA}")
    if len(set(langs)) != len(langs):
        raise InputError(f"data spec {spec!r} names a language twice")
    n = per_class if per_class is not None else int(opts.get("n", WORDFREQ_DEFAULT_N))
    if n < 1:
        raise InputError(f"words per language must be positive, got n={n} in {spec!r}")
    try:
        import wordfreq
    except ImportError:
        raise InputError(
            f"data spec {spec!r} needs the wordfreq package: pip install 'rnnbench[data]'; "
            "or use folder:PATH, csv:PATH or synthetic"
        ) from None
    known = set(wordfreq.available_languages())
    unknown = [lang for lang in langs if lang not in known]
    if unknown:
        raise InputError(f"wordfreq has no word list for {unknown} in {spec!r}; it has: {', '.join(sorted(known))}")
    lists = {lang: wordfreq.top_n_list(lang, WORDFREQ_LOOKAHEAD * n) for lang in langs}
    seen_in = Counter(w for words in lists.values() for w in set(words))
    alpha = bool(opts.get("alpha", 1))
    examples: list[Example] = []
    for lang, words in lists.items():
        kept = [w for w in words if seen_in[w] == 1 and (w.isalpha() or not alpha)][:n]
        examples += [(w, lang) for w in kept]
    return examples


def read_text(path: str, what: str) -> str:
    """A UTF-8 text file's contents, a byte-order mark stripped; InputError (naming it as `what`) when
    it is missing, a folder, not UTF-8 or unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"{what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path!r} is a folder") from None
    except OSError as e:
        raise InputError(f"cannot read {what} {path!r}: {e.strerror}") from None
    try:
        return data.decode("utf-8").removeprefix(BOM)  # a byte-order mark is no part of the first record
    except UnicodeDecodeError as e:
        raise InputError(f"{what} {path!r} is not valid UTF-8: {not_utf8_at(data, e)}") from None


def not_utf8_at(data: bytes, e: UnicodeDecodeError) -> str:
    """Where data stops being UTF-8, as a user finds it in an editor: line, column and the bytes."""
    line = data.count(b"\n", 0, e.start) + 1
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return (
        f"line {line}, column {column}: byte {data[e.start : e.end].hex(' ')} is not UTF-8 "
        "(save the file as UTF-8, e.g. iconv -f latin1 -t utf-8)"
    )


def _folder(spec: str, path: str) -> list[Example]:
    if not path:
        raise InputError(f"data spec {spec!r} needs a folder: folder:PATH")
    if not os.path.isdir(path):
        raise InputError(f"data folder {path!r} does not exist or is not a directory")
    names = sorted(f for f in os.listdir(path) if f.endswith(".txt") and os.path.isfile(os.path.join(path, f)))
    if not names:
        raise InputError(f"data folder {path!r} has no <label>.txt files (one file per class, one example a line)")
    examples: list[Example] = []
    for name in names:
        label = name[: -len(".txt")]
        lines = [line.strip() for line in read_text(os.path.join(path, name), "data file").splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise InputError(f"class {label!r} has no examples: {os.path.join(path, name)!r} is empty")
        examples += [(line, label) for line in lines]
    return examples


def _csv(spec: str, arg: str, classes: Collection[str] | None) -> csv_source.CsvData:
    options = csv_source.parse_spec(spec, arg)
    if os.path.isdir(options.path):
        raise InputError(f"CSV data {options.path!r} is a directory, not a file (did you mean folder:{options.path}?)")
    return csv_source.read(spec, options, read_text(options.path, "CSV file"), classes)


def _synthetic(spec: str, arg: str, tokens: str) -> list[Example]:
    items = [s.strip() for s in arg.split(",") if s.strip()]
    bad = [s for s in items if "=" not in s]
    if bad:
        raise InputError(f"data spec {spec!r}: synthetic options are key=value, got {bad[0]!r}")
    opts = SYNTHETIC_DEFAULTS | _options(spec, items, SYNTHETIC_DEFAULTS)
    n, length, vocab, classes = (int(opts[k]) for k in ("n", "length", "vocab", "classes"))
    for key, value, low in (("n", n, 1), ("length", length, 1), ("vocab", vocab, 2), ("classes", classes, 2)):
        if value < low:
            raise InputError(f"synthetic option {key} must be >= {low}, got {value} in {spec!r}")
    if vocab > SYNTHETIC_MAX_VOCAB:
        raise InputError(f"synthetic option vocab must be <= {SYNTHETIC_MAX_VOCAB}, got {vocab} in {spec!r}")
    if classes > vocab:
        raise InputError(f"synthetic option classes={classes} must not exceed vocab={vocab} in {spec!r}")
    if opts["rule"] not in ("first", "last"):
        raise InputError(f"synthetic option rule must be first or last, got {opts['rule']!r} in {spec!r}")
    rng = np.random.default_rng(int(opts["seed"]))
    symbols = [SYNTHETIC_SYMBOLS[i] if i < len(SYNTHETIC_SYMBOLS) else chr(0x4E00 + i) for i in range(vocab)]
    if tokens == "word":
        symbols = [f"t{i}" for i in range(vocab)]
    lengths = rng.integers(1, length + 1, size=n)  # (n,)
    ids = rng.integers(0, vocab, size=(n, length))  # (n, length)
    key = ids[:, 0] if opts["rule"] == "first" else ids[np.arange(n), lengths - 1]  # (n,) the deciding symbol
    sep = " " if tokens == "word" else ""
    return [
        (sep.join(symbols[i] for i in row[:L]), f"c{k % classes}")
        for row, L, k in zip(ids.tolist(), lengths.tolist(), key.tolist(), strict=True)
    ]


@dataclass(frozen=True)
class Source:
    """The records of one data spec, and how they were read (empty for sources with nothing to say)."""

    examples: list[Example]
    note: str | None = None


def load_source(
    spec: str, *, tokens: str = "char", per_class: int | None = None, classes: Collection[str] | None = None
) -> Source:
    """The records of the source named by spec (see the module docstring).

    classes: the labels its records may have, when known (those of the training data, for a separate
    validation or test source); a CSV file's header is then told by them too.
    """
    kind, arg = parse_spec(spec)
    if kind == "wordfreq":
        return Source(_wordfreq(spec, arg, per_class))
    if kind == "folder":
        return Source(_folder(spec, arg))
    if kind == "csv":
        data = _csv(spec, arg, classes)
        return Source(data.examples, f"{spec}: {data.note}")
    return Source(_synthetic(spec, arg, tokens))


def load_examples(spec: str, *, tokens: str = "char", per_class: int | None = None) -> list[Example]:
    """(text, label name) pairs of the source named by spec (see the module docstring)."""
    return load_source(spec, tokens=tokens, per_class=per_class).examples
