"""Tests of `python -m launch.eval_policies` (subprocesses: absl flags are process-global).

Tiny sizes: digits, 4 channels, 1 epoch on 128 images, a 1-epoch policy-gradient search on 64.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import run_launch, run_launch_cases, run_launch_on_logical_cpus

_ROOT = Path(__file__).resolve().parents[2]

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
    # Seeds and policies only choose runs: fewer of them read the finished ones back, trains nothing.
    fewer = _run(f"--workdir={workdir}", "--policies=standard", "--num_seeds=1", *_TINY)
    assert fewer.returncode == 0, fewer.stderr[-3000:]
    assert json.loads(fewer.stdout.strip().splitlines()[-1])["standard"]["mean"] == results["standard"]["accuracies"][0]
    assert not {"seeds", "policies"} & set(json.loads((workdir / "config.json").read_text()))
    other = _run(f"--workdir={workdir}", "--policies=standard", "--num_seeds=1", *_TINY, "--epochs=3")
    assert other.returncode == 2 and "different config (epochs:" in other.stderr
    # DDAS's protocol: the finished search's per-epoch policies replayed over the training.
    replay = _run(f"--workdir={tmp_path / 'replay'}", "--policies=pg", "--num_seeds=1", "--replay_history",
                  f"--pg_workdir={workdir / 'search_pg'}", *_TINY)
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert set(json.loads(replay.stdout.strip().splitlines()[-1])) == {"pg"}
    replayed = json.loads((tmp_path / "replay" / "results.json").read_text())["pg"]
    assert replayed["replayed_epochs"] == 1 and "replayed over its 1 search epochs" in replayed["augmentation"]
    assert json.loads((tmp_path / "replay" / "config.json").read_text())["replay_history"] is True
    assert "replay_history" not in json.loads((workdir / "config.json").read_text())
    (workdir / "search_pg" / "history.json").unlink()
    lost = _run(f"--workdir={tmp_path / 'lost'}", "--policies=pg", "--num_seeds=1", "--replay_history",
                f"--pg_workdir={workdir / 'search_pg'}", *_TINY)
    assert lost.returncode == 2 and "history.json" in lost.stderr


_BAD_FLAGS = [
    (("--policies=standard,fancy",), "policies must be a non-empty subset"),
    (("--num_seeds=0",), "--num_seeds must be a positive integer"),
    (("--ra_m=12",), "--ra_m must be in [0, 10]"),
]

# Without _TINY's sizes: the refusal names the training-set size the budget gave (or the flag over it).
_BUDGET_CASES = [
    (("--batch_size=3000",), "--batch_size=3000 exceeds --train_examples=2000"),
    (("--budget=quick", "--batch_size=9000"), "--batch_size=9000 exceeds --train_examples=8000"),
    (("--budget=full", "--train_examples=100"), "--batch_size=128 exceeds --train_examples=100"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory):
    """`_BAD_FLAGS`' and `_BUDGET_CASES`' runs, all in one process (`run_launch_cases`), by their args."""
    workdir = tmp_path_factory.mktemp("eval_policies_bad_flags")
    cases = {args: (f"--workdir={workdir / str(i)}", *_TINY, *args) for i, (args, _) in enumerate(_BAD_FLAGS)}
    cases.update({args: (f"--workdir={workdir / f'budget{i}'}", "--dataset=digits", *args)
                  for i, (args, _) in enumerate(_BUDGET_CASES)})
    return run_launch_cases("eval_policies", cases)


@pytest.mark.parametrize("args, message", _BAD_FLAGS + _BUDGET_CASES)
def test_bad_flags_fail_with_a_clear_error(bad_flag_runs, args, message):
    """Each refusal says what was wrong; `_BUDGET_CASES`' also show the size `--budget` gave, or the flag over it."""
    proc = bad_flag_runs[args]
    assert proc.returncode == 2
    assert "error: " in proc.stderr and message in proc.stderr


def test_default_config_is_the_data_limited_budget():
    # A subprocess: launch.eval_policies defines absl flags at import (process-global).
    code = ("import dataclasses, json, launch.eval_policies as e; c = dataclasses.asdict(e.EvalConfig()); "
            "c['num_seeds'] = c.pop('seeds'); b = e.BUDGETS['data_limited']; "
            "print(json.dumps([{k: c[k] for k in b} == b, e._BUDGET.default, e.budgeted('full', {'epochs': 3})]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=_ROOT, capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    same, default, full = json.loads(proc.stdout.strip().splitlines()[-1])
    assert same and default == "data_limited"
    assert full == {"train_examples": 50000, "epochs": 3, "channels": 16, "layers": 5, "num_seeds": 3,
                    "search_examples": 50000, "search_epochs": 20}


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus_trains_like_one_device(tmp_path):
    """The trainings under a 2-replica MirroredStrategy follow the one-device run (the same global
    batches; BatchNorm statistics per replica); the pg search runs on one device beside them."""
    tiny = (*_TINY, "--epochs=2", "--cutout=0", "--num_seeds=1")
    one = _run(f"--workdir={tmp_path / 'one'}", "--policies=standard", "--strategy=one_device", *tiny)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_launch_on_logical_cpus("eval_policies", f"--workdir={tmp_path / 'two'}", "--policies=standard,pg",
                                     "--strategy=mirrored", *tiny, timeout=1200)
    assert two.returncode == 0, two.stderr[-3000:]
    run_one = json.loads((tmp_path / "one" / "runs" / "standard_seed0.json").read_text())
    run_two = json.loads((tmp_path / "two" / "runs" / "standard_seed0.json").read_text())
    assert (run_one["replicas"], run_two["replicas"]) == (1, 2)
    assert abs(run_two["final_train_loss"] - run_one["final_train_loss"]) < 0.05
    assert set(json.loads(two.stdout.strip().splitlines()[-1])) == {"standard", "pg"}
    assert (tmp_path / "two" / "search_pg" / "genotype.json").exists()
    assert (tmp_path / "two" / "results.json").exists()
