"""`python -m launch.interference`, run as a subprocess (absl flags are process-global)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tfnas.algorithms.runner import make_search_config, search
from tests.helpers import error_line, run_launch



def _run(*args: str) -> subprocess.CompletedProcess:
    return run_launch("interference", *args)


@pytest.mark.slow
def test_measures_every_distance_on_a_trained_single_path_supernet(tmp_path):
    config = make_search_config("magic_t", "nb201", epochs=1, batch_size=16, channels=4, layers=1)
    search(config, space="nb201", dataset="digits", workdir=str(tmp_path), image_size=8, max_train_examples=128,
           verbose=0)
    proc = _run(f"--supernet_workdir={tmp_path}", "--pairs_per_distance=2", "--batch_size=8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["supernet_algorithm"] == "magic_t" and summary["supernet_epochs"] == 1
    rows = summary["by_distance"]
    assert [r["distance"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(r["count"] + r["skipped"] == 2 * 3 for r in rows)  # 2 pairs x 3 search cells
    assert any(r["count"] for r in rows) and "op(s) apart: cosine" in proc.stdout


def test_a_missing_workdir_exits_2(tmp_path):
    proc = _run(f"--supernet_workdir={tmp_path / 'none'}")
    assert proc.returncode == 2 and "holds no config.json" in error_line(proc.stderr)
