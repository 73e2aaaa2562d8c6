"""benchmarks/numpy_torch_vs_handwritten.py at toy sizes: its hand-written yardsticks train the model the
public steps train (the script refuses to time them otherwise), and it prints one ratio per point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import impls

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "numpy_torch_vs_handwritten.py"


@pytest.mark.parametrize("impl", ["numpy-bptt", "torch-autograd", "torch-nnrnn"])
def test_the_hand_written_steps_train_the_same_model_and_each_point_gets_a_ratio(impl):
    reason = impls.registry.unavailable_reason(impl)
    if reason:
        pytest.skip(reason)
    command = [sys.executable, str(SCRIPT), "--impl", impl, "--hidden", "3", "--batch", "1", "5"]
    done = subprocess.run(
        [*command, "--records", "40", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    ratios = re.findall(rf"^{impl} +H=3 +B=(\d+) .*\| step ratio (\d+\.\d+)$", done.stdout, flags=re.MULTILINE)
    assert [batch for batch, _ in ratios] == ["1", "5"], done.stdout
    assert all(float(ratio) > 0 for _, ratio in ratios)
