"""`python -m launch.bnas` at tiny size on the embedded digits: both searches, both children, the contract."""

from __future__ import annotations

import json

import pytest

from tests.helpers import error_line, run_launch

_TINY = ["--space=nb201", "--dataset=digits", "--channels=4", "--layers=1", "--image_size=8", "--max_train_examples=128",
         "--arch_warmup_epochs=1", "--reduce_every=1", "--batch_size=32", "--child_epochs=1", "--child_channels=4", "--child_layers=1",
         "--child_train_examples=128", "--child_batch_size=32", "--verbose=0", "--strategy=one_device"]


@pytest.mark.slow
def test_searches_and_children_print_the_contract_and_a_rerun_resumes(tmp_path):
    done = run_launch("bnas", f"--workdir={tmp_path}", *_TINY, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    searches = summary["search"]
    assert set(searches) == {"pc_darts", "bnas"}
    assert searches["pc_darts"]["epochs"] == searches["bnas"]["epochs"] == summary["epochs"] == 5  # 1 + 4 rounds, both
    assert searches["pc_darts"]["batch_size"] == searches["bnas"]["batch_size"] == 32
    assert summary["bnas_time_ratio"] == pytest.approx(
        searches["bnas"]["search_seconds"] / searches["pc_darts"]["search_seconds"])
    child = summary["child"]
    assert child["genotype"] == searches["bnas"]["genotype"]
    assert child["binarized"]["bytes"] < child["float"]["bytes"] / 4  # 1-bit kernels packed
    assert summary["accuracy_gap"] == pytest.approx(child["float"]["test_accuracy"] - child["binarized"]["test_accuracy"])
    for key in ("published", "cpu", "cpu_vector_extensions", "kernel_library"):
        assert key in summary
    for part in ("pc_darts", "bnas", "child_float", "child_weights"):
        assert (tmp_path / part).is_dir()
    assert child["binarized"]["mode"] == "weights"
    # PCNN's child on the same workdir: the searches and the float child are read back, not trained again.
    done_parts = {p: p.stat().st_mtime_ns for part in ("pc_darts", "bnas", "child_float")
                  for p in (tmp_path / part / "checkpoints").rglob("*") if p.is_file()}
    assert done_parts
    again = run_launch("bnas", f"--workdir={tmp_path}", *_TINY, "--binarized=pcnn", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    pcnn = json.loads(again.stdout.strip().splitlines()[-1])
    assert pcnn["search"] == searches and pcnn["child"]["float"] == child["float"]
    assert pcnn["child"]["binarized"]["mode"] == "pcnn" and (tmp_path / "child_pcnn").is_dir()
    assert pcnn["child"]["binarized"]["bytes"] < child["float"]["bytes"] / 4
    assert {p: p.stat().st_mtime_ns for p in done_parts} == done_parts  # no checkpoint of theirs rewritten


def test_bad_sizes_are_a_clear_error(tmp_path):
    done = run_launch("bnas", f"--workdir={tmp_path}", *_TINY, "--child_epochs=0")
    assert done.returncode == 2
    assert "--child_epochs must be >= 1" in error_line(done.stderr)
