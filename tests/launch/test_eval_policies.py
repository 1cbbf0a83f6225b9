"""Tests of `python -m launch.eval_policies` (subprocesses: absl flags are process-global).

Tiny sizes: digits, 4 channels, 1 epoch on 128 images, a 1-epoch policy-gradient search on 64.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.helpers import run_launch

_TINY = ("--dataset=digits", "--channels=4", "--epochs=1", "--train_examples=128", "--test_examples=64",
         "--batch_size=32", "--search_epochs=1", "--search_examples=64", "--search_batch_size=16")


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_launch("eval_policies", *args, timeout=1200)


@pytest.mark.slow
def test_eval_trains_each_policy_and_prints_the_json_table(tmp_path):
    workdir = tmp_path / "eval"
    proc = _run(f"--workdir={workdir}", "--policies=standard,pg", "--num_seeds=2", *_TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(table) == {"standard", "pg"}
    for row in table.values():
        assert set(row) == {"mean", "std", "search_cpu_hours"}
        assert 0.0 <= row["mean"] <= 100.0 and row["std"] >= 0.0
    assert table["standard"]["search_cpu_hours"] == 0.0
    assert table["pg"]["search_cpu_hours"] > 0.0
    results = json.loads((workdir / "results.json").read_text())
    assert results["pg"]["policy"].startswith("distribution:") and len(results["pg"]["accuracies"]) == 2
    assert (workdir / "search_pg" / "genotype.json").exists()
    assert sorted(p.name for p in (workdir / "runs").iterdir()) == [
        "pg_seed0.json", "pg_seed1.json", "standard_seed0.json", "standard_seed1.json"]
    # A rerun reuses the finished runs and search: same table.
    again = _run(f"--workdir={workdir}", "--policies=standard,pg", "--seeds=2", *_TINY)  # the old spelling
    assert again.returncode == 0, again.stderr[-3000:]
    assert "--seeds is deprecated and will be removed; use --num_seeds" in again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1]) == table
    other = _run(f"--workdir={workdir}", "--policies=standard,pg", "--num_seeds=1", *_TINY)
    assert other.returncode == 2 and "different config" in other.stderr


@pytest.mark.parametrize("args, message", [
    (("--policies=standard,fancy",), "policies must be a non-empty subset"),
    (("--num_seeds=0",), "--num_seeds must be a positive integer"),
    (("--ra_m=12",), "--ra_m must be in [0, 10]"),
])
def test_bad_flags_fail_with_a_clear_error(tmp_path, args, message):
    proc = _run(f"--workdir={tmp_path / 'w'}", *_TINY, *args)
    assert proc.returncode == 2
    assert "error: " in proc.stderr and message in proc.stderr
