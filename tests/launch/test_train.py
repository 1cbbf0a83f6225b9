"""`launch.train` end to end on the embedded digits: report, resume after a kill, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = [
    "--model=|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|",
    "--dataset=digits",
    "--channels=4",
    "--layers=1",
    "--image_size=16",
    "--batch_size=32",
    "--max_train_examples=256",
    "--cutout=4",
    "--verbose=0",
]


def _run(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "-m", "launch.train", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_train_writes_report_model_and_logs(tmp_path):
    workdir = tmp_path / "run"
    result = _run([*TINY, "--epochs=2", "--ema_decay=0.9", f"--workdir={workdir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    report = _last_json(result.stdout)
    assert report["epochs"] == 2 and report["space"] == "nb201"
    assert 0.0 <= report["test_accuracy"] <= 1.0
    assert report["trainable_params"] > 0 and report["madds"] > 0
    assert report["seconds_per_epoch"] > 0
    saved = json.loads((workdir / "report.json").read_text())
    assert len(saved["history"]) == 2 and "loss" in saved["history"][0]
    assert (workdir / "config.json").exists() and (workdir / "checkpoints" / "state.json").exists()
    assert any(os.scandir(workdir / "tensorboard"))

    import keras

    import tfnas.ops  # noqa: F401  (registers the custom layers the saved model uses)
    from tfnas import data

    model = keras.saving.load_model(workdir / "model.keras")
    _, test = data.load_splits("digits", image_size=16)
    x, y = next(iter(data.make_eval_dataset(test, 360, dataset="digits")))
    accuracy = float(np.mean(np.argmax(model.predict(x, verbose=0), -1) == y.numpy()))
    assert accuracy == pytest.approx(report["test_accuracy"], abs=1e-6)


def test_rerun_with_other_flags_is_refused(tmp_path):
    workdir = tmp_path / "run"
    assert _run([*TINY, "--epochs=1", f"--workdir={workdir}"]).returncode == 0
    result = _run([*TINY, "--epochs=1", "--learning_rate=0.1", f"--workdir={workdir}"])
    assert result.returncode == 2
    assert "different config" in result.stderr and "learning_rate" in result.stderr


def test_unknown_genotype_is_a_clear_error(tmp_path):
    # --genotype is the deprecated spelling of --model: it still works, with a warning.
    result = _run(["--genotype=not_a_model", "--dataset=digits", f"--workdir={tmp_path}"])
    assert result.returncode == 2 and "error:" in result.stderr and "not_a_model" in result.stderr
    assert "warning: --genotype is deprecated and will be removed; use --model" in result.stderr
    both = _run(["--model=darts_v2", "--input_size=16", "--image_size=16", f"--workdir={tmp_path}"])
    assert both.returncode == 2 and "--input_size is the deprecated spelling of --image_size" in both.stderr


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    args = [*TINY, "--epochs=4", f"--workdir={workdir}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "launch.train", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = workdir / "checkpoints" / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state.read_text())["epoch"]
    assert 1 <= killed_at < 4
    result = _run(args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = _last_json(result.stdout)
    assert report["resumed_from_epoch"] == killed_at
    assert json.loads(state.read_text())["epoch"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains(tmp_path, policy):
    result = _run([*TINY, "--epochs=1", f"--mixed_precision={policy}", f"--workdir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    report = _last_json(result.stdout)
    assert np.isfinite(report["test_loss"])


def test_binarized_child_trains_and_reports_its_packed_size(tmp_path):
    workdir = tmp_path / "bin"
    result = _run([*TINY, "--epochs=3", "--learning_rate=0.05", "--binarized=weights", f"--workdir={workdir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    report = _last_json(result.stdout)
    size = report["size"]
    assert size["binary_weights"] > 0 and size["packed_bytes"] < size["float32_bytes"]
    losses = [h["loss"] for h in json.loads((workdir / "report.json").read_text())["history"]]
    assert losses[-1] < losses[0]  # the 1-bit cells train through the straight-through gradient
    assert json.loads((workdir / "config.json").read_text())["binarized"] == "weights"
    bad = _run([*TINY, "--binarized=ternary", f"--workdir={tmp_path / 'bad'}"])
    assert bad.returncode != 0 and "binarized" in bad.stderr
