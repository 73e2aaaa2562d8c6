"""Turn a benchmark run into results/<run-id>/report.md with PNG plots in results/<run-id>/plots/.

Plots (one set per thread setting): per-record cost against batch size (log-log, a line per
implementation, a panel per hidden size and sequence length), speed-up over B=1, fixed overhead against
marginal per-record cost (the fit time_per_step(B) = overhead + B * marginal) and the fit against the
measured medians, percent of this machine's matmul peak, first-call (tracing / compilation) times,
memory against batch size (the peak of one training step as its framework accounts it, beside the
BPTT cache formula), and
validation accuracy against training seconds, with and without compilation. Tables of the headline
figures, threads side by side, the run beside the reference figures of issue #5, and sentences that
say what they mean: every number in them comes from the run's data (the issue's figures excepted,
and labelled so).

examples:
  rnnbench report                       the newest run in results/
  rnnbench report 20250101-120000-4211b91 --target-accuracy 0.7
"""

# The package splits the report by job (reading, deriving, plotting, tables, sentences, assembling);
# these are the names the rest of rnnbench and its tests use. Every module imports pandas and
# matplotlib inside its functions, so that `rnnbench --help` stays fast and works without them.
from __future__ import annotations

from rnnbench.report.build import build_report
from rnnbench.report.command import add_arguments, run
from rnnbench.report.formatting import fmt_time
from rnnbench.report.reference import ISSUE5_REFERENCE

__all__ = ["ISSUE5_REFERENCE", "add_arguments", "build_report", "fmt_time", "run"]
