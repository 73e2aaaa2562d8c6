"""The answer checks every measured point makes: finite losses, a loss that falls, a loop that adds up.

A failed check marks a point "failed" (a wrong answer: it is left out of every figure); a loop whose
timed parts do not add up to its wall time marks it "flagged" (the timing is suspect, the answer fine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


@dataclass
class Checks:
    loss_before: float = math.nan
    loss_after: float = math.nan
    sanity: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "failed" if self.problems else ("flagged" if self.flags else "ok")

    def losses_finite(self, losses: Sequence[float], what: str) -> None:
        bad = [x for x in losses if not math.isfinite(x)]
        if bad:
            self.problems.append(f"{len(bad)} of {len(losses)} {what} losses are not finite (first: {bad[0]})")

    def loss_fell(self) -> None:
        if not math.isfinite(self.loss_after):
            self.problems.append(f"the check batch's loss after training is {self.loss_after}")
        elif not self.loss_after < self.loss_before:
            self.problems.append(
                f"the check batch's loss did not fall: {self.loss_before:.6f} before, {self.loss_after:.6f} after"
            )

    def as_dict(self) -> dict:
        return asdict(self) | {"status": self.status}
