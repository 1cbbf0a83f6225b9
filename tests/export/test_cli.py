"""`python -m export` end to end: the last printed line is the JSON summary; bad input exits 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args: list[str], data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT, "TFNAS_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "export", *args], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_prints_the_summary_last(tmp_path, data_dir):
    result = _run(["--model=darts_v2", "--channels=4", "--layers=2", "--image_size=16", "--formats=onnx",
                   "--parity_images=20", "--latency_runs=2", f"--out={tmp_path}"], data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(summary) == ["onnx"]
    assert summary["onnx"]["max_abs_diff"] <= 1e-4 and summary["onnx"]["size_bytes"] > 0
    assert summary["onnx"]["latency"]["median_ms"] > 0
    assert (tmp_path / "darts_v2.card.json").exists()
    assert json.loads((tmp_path / "darts_v2.export_config.json").read_text())["formats"] == ["onnx"]


def test_cli_bad_format_exits_2_with_a_clear_message(tmp_path, data_dir):
    result = _run(["--model=darts_v2", "--formats=onnx,coreml", f"--out={tmp_path}"], data_dir)
    assert result.returncode == 2
    assert "Unknown export format(s) ['coreml']" in result.stderr
