"""The worked examples run as a user would run them, at tiny size."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.helpers import ROOT


def test_search_your_space_searches_fixes_trains_and_exports(tmp_path, data_dir):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", TFNAS_DATA_DIR=str(data_dir))
    out = tmp_path / "space"
    proc = subprocess.run([sys.executable, "examples/search_your_space.py", "--dataset=digits", "--evaluations=2",
                           "--train_examples=200", "--epochs=1", f"--out={out}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "searched 2 of 11664 models" in proc.stdout and "test accuracy" in proc.stdout
    labels = [json.loads(line)["label"] for line in (out / "record.jsonl").read_text().splitlines()]
    assert labels[:3] == ["stage0_width", "s0b0", "s0b0_shortcut"] and len(labels) == 10
    proc = subprocess.run(
        [sys.executable, "-m", "export", f"--model={out / 'model.keras'}", "--formats=keras,tflite",
         "--dataset=digits", f"--out={tmp_path / 'exp'}", "--parity_images=20", "--latency_runs=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["keras"]["parity"]["ok"] and summary["tflite"]["parity"]["ok"]
