"""Tests of `python -m launch.profile`, run as a subprocess.

A subprocess rather than `flagsaver`: the launch scripts define flags with the same
names (`--dataset`, `--channels`, ...) in the global absl FLAGS, so importing two of them
into one pytest process would raise DuplicateFlagError.
"""

from __future__ import annotations

import json
import subprocess
from tests.helpers import run_launch



def _run(*args: str) -> subprocess.CompletedProcess:
    return run_launch("profile", *args)


def _report(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mobilenet_v2_report_and_per_layer_table():
    report = _report(_run("--model=mobilenet_v2", "--per_layer"))
    print(report)
    assert report["model"] == "mobilenet_v2"
    assert report["space"] == "mobile"
    assert report["input_shape"] == [224, 224, 3]
    # keras.applications.MobileNetV2 has these exact counts (tests/budgets/test_counters.py).
    assert report["total_params"] == 3_538_984
    assert report["trainable_params"] == 3_504_872
    assert report["madds"] == 300_774_272
    assert report["madds_m"] == 300.77 and report["params_m"] == 3.505


def test_genotype_string_with_size_flags():
    from tfnas.budgets.counters import count_madds, count_params
    from tfnas.children import build_child
    from tfnas.genotypes import codec

    text = codec.load("darts_v2").to_string()
    proc = _run(f"--model={text}", "--dataset=cifar10", "--channels=8", "--layers=3", "--num_classes=5")
    report = _report(proc)
    model = build_child(codec.load(text), dataset="cifar10", channels=8, layers=3, num_classes=5)
    assert report["space"] == "darts"
    assert report["genotype"] == text
    assert report["input_shape"] == [32, 32, 3]
    assert report["madds"] == count_madds(model)
    assert report["trainable_params"] == count_params(model).trainable


def test_unknown_model_exits_with_message():
    proc = _run("--model=no_such_network")
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "no_such_network" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_genotype_exits_with_message():
    proc = _run("--model=normal=|bogus_op~0|;reduce=|max_pool_3x3~0|")
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    assert "Traceback" not in proc.stderr
