"""`python -m launch.quickstart` end to end at tiny size: search, derive, train the child."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from tfnas.genotypes import codec

_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["evolution", "darts_minus"])
def test_quickstart_searches_then_trains_the_found_cell(tmp_path, algorithm):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-m", "launch.quickstart", f"--workdir={tmp_path}", "--search_epochs=1",
         "--epochs=1", "--search_channels=4", "--channels=4", "--image_size=8", "--random_cells=2",
         f"--algorithm={algorithm}", "--search_evaluations=3", "--strategy=one_device"],
        cwd=_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    searched = json.loads((tmp_path / "search" / "genotype.json").read_text())
    # the child trained is the cell the search derived
    assert report["genotype"] == searched["genotype"]
    assert codec.parse(report["genotype"]).to_string() == report["genotype"]
    assert report["algorithm"] == algorithm
    assert 0.0 <= report["test_accuracy"] <= 1.0
    assert report["trainable_params"] > 0 and report["madds"] > 0
    for name in ("cells.png", "arch_weights.png") if algorithm == "darts_minus" else ("cells.png",):
        assert (tmp_path / "search" / name).stat().st_size > 0
    if algorithm == "evolution":  # the found cell is the best-scored of the cells it trained
        trials = searched["search"]["trials"]
        assert len(trials) == 3 and searched["genotype"] == max(trials, key=lambda t: t["score"])["cell"]
        assert len((tmp_path / "search" / "evaluations.jsonl").read_text().splitlines()) == 3
    assert (tmp_path / "child" / "model.keras").exists()
    assert "genotype" in proc.stdout and "MAdds" in proc.stdout
    # The baseline: random cells of the space trained with the same recipe, next to the found cell.
    assert len(report["random_cells"]) == 2
    for k, entry in enumerate(report["random_cells"]):
        assert (tmp_path / "random" / str(k) / "model.keras").exists()
        assert entry["genotype"] in proc.stdout and 0.0 <= entry["test_accuracy"] <= 1.0
    mean = sum(e["test_accuracy"] for e in report["random_cells"]) / 2
    assert report["random_mean_accuracy"] == pytest.approx(mean)
    assert report["beats_random_mean"] == (report["test_accuracy"] > mean)
    assert "random mean" in proc.stdout and "(searched)" in proc.stdout
