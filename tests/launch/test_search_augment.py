"""Tests of `python -m launch.search_augment`, run as subprocesses (absl flags are process-global).

Tiny sizes: digits at 8x8, 64 training examples, 4 channels, 1 epoch.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tfnas.genotypes import codec
from tests.helpers import error_line, run_launch, run_launch_cases, run_launch_on_logical_cpus

_TINY = ("--dataset=digits", "--image_size=8", "--max_train_examples=64", "--batch_size=16", "--channels=4",
         "--epochs=1", "--verbose=0")


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_launch("search_augment", *args, timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize("method, extra", [("ddas", ()), ("ddas", ("--inner_product=last_layer",)), ("daas", ())])
def test_search_writes_policy_and_files(tmp_path, method, extra):
    workdir = tmp_path / method
    proc = _run(f"--method={method}", f"--workdir={workdir}", *_TINY, *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    assert f"policy: {report['policy']}" in lines
    policy = codec.from_dict(json.loads((workdir / "genotype.json").read_text()))
    assert policy.to_string() == report["policy"] and policy.kind == "distribution"
    assert report["search_cpu_seconds"] > 0 and report["steps_per_epoch"] == 2
    for name in ("policy.png", "policy_final.png", "history.json", "cost.json", "config.json"):
        assert (workdir / name).stat().st_size > 0
    assert any((workdir / "tensorboard").iterdir())
    written = json.loads((workdir / "config.json").read_text())["augment_search"]
    assert written["method"] == method
    assert written.get("inner_product", "exact") == ("last_layer" if extra else "exact")
    if method == "daas":
        cell = codec.from_dict(json.loads((workdir / "arch_genotype.json").read_text()))
        assert cell.space == "nb201" and f"genotype: {cell.to_string()}" in lines
        assert (workdir / "cells.png").stat().st_size > 0
    # The same command again resumes at the end: nothing left to train, same policy.
    again = _run(f"--method={method}", f"--workdir={workdir}", *_TINY, *extra)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["policy"] == report["policy"]


_BAD_FLAGS = [
    (("--method=ddas", "--apply_init=1.5"), "apply_init must be in (0, 1)"),
    (("--method=pg", "--network=resnet18"), "network must be a NAS-Bench-201 cell"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory):
    """`_BAD_FLAGS`' runs, all in one process (`run_launch_cases`), by their args."""
    workdir = tmp_path_factory.mktemp("search_augment_bad_flags")
    return run_launch_cases("search_augment", {args: (*args, f"--workdir={workdir / str(i)}", *_TINY)
                                               for i, (args, _) in enumerate(_BAD_FLAGS)})


@pytest.mark.parametrize("args, message", _BAD_FLAGS)
def test_bad_flags_fail_with_a_clear_error(bad_flag_runs, args, message):
    proc = bad_flag_runs[args]
    assert proc.returncode == 2
    assert "error: " in proc.stderr and message in proc.stderr


def test_one_device_strategy_runs_a_search(tmp_path):
    workdir = tmp_path / "pg"
    proc = _run("--method=pg", "--strategy=one_device", f"--workdir={workdir}", *_TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["method"] == "pg" and (workdir / "genotype.json").exists()


def test_mirrored_strategy_runs_a_search_on_two_replicas(tmp_path):
    """A MirroredStrategy over two logical CPUs: each replica takes half of the global batch of 16
    (the steps' equality with the one-device step is tests/augment/test_distributed.py)."""
    workdir = tmp_path / "ddas"
    proc = run_launch_on_logical_cpus("search_augment", "--method=ddas", "--strategy=mirrored",
                                      f"--workdir={workdir}", *_TINY, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and report["chief"] and report["steps_per_epoch"] == 2
    policy = codec.from_dict(json.loads((workdir / "genotype.json").read_text()))
    assert policy.to_string() == report["policy"]
    assert json.loads((workdir / "config.json").read_text())["augment_search"]["batch_size"] == 16


def test_unknown_strategy_is_an_error(tmp_path):
    proc = _run("--method=pg", "--strategy=tpu", f"--workdir={tmp_path / 'w'}", *_TINY)
    assert proc.returncode == 2
    assert "--strategy must be one of auto, one_device, mirrored, multi_worker" in error_line(proc.stderr)
