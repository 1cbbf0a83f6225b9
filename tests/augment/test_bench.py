"""Test of `python -m launch.bench augment_step` (subprocess: absl flags are process-global)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_augment_step_bench_prints_both_timings():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-m", "launch.bench", "augment_step", "--method=ddas", "--batch_size=8", "--channels=4",
         "--layers=1", "--image_size=8", "--timed_steps=2", "--warmup_steps=0"],
        cwd=_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == "augment_step" and result["method"] == "ddas"
    assert result["step_seconds"] > 0 and result["plain_step_seconds"] > 0
    assert result["ratio"] == pytest.approx(result["step_seconds"] / result["plain_step_seconds"], rel=0.02)
    assert len(result["step_seconds_all"]) == 2
