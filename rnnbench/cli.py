"""`rnnbench` command line: one sub-command per module, each with `add_arguments(parser)` and `run(args)`."""

from __future__ import annotations

import argparse
import importlib
import sys

# sub-command -> (module, one-line help). Modules import lazily, so `rnnbench train --help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("rnnbench.commands.train", "train one implementation on a data set and report accuracy per epoch"),
    "predict": ("rnnbench.commands.predict", "label new text with a model that `train --out DIR` wrote"),
    "check": ("rnnbench.commands.check", "run the conformance cases on one implementation; exit 0 when all pass"),
    "bench": ("rnnbench.commands.bench", "run the benchmark suite (step cost sweep, accuracy per second)"),
    "report": ("rnnbench.commands.report", "turn a benchmark run into report.md with tables and plots"),
    "compare": ("rnnbench.commands.compare", "compare two benchmark runs; non-zero exit on regression"),
    "ab": ("rnnbench.commands.ab", "measure two versions of the code in one run, worker by worker, and compare them"),
    "merge": (
        "rnnbench.commands.merge",
        "one run from several (each machine's points kept apart), for report and compare",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnbench",
        description="What a vanilla RNN classifier costs in NumPy, PyTorch and JAX, and why.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(
            name, help=help_text, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run, subparser=sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # argparse ends a positional list at the first option: `predict DIR --top 2 NAME` leaves NAME over.
        # A sub-command whose last positional takes many values gets such words; any other is refused by
        # the sub-command's own parser, with its own usage line
        trailing = getattr(args, "trailing_positionals", None)
        if trailing is None or any(word.startswith("-") for word in extra):
            args.subparser.error(f"unrecognized arguments: {' '.join(extra)}")
        setattr(args, trailing, [*getattr(args, trailing), *extra])
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
