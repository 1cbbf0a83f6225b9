"""`--strategy=multi_worker`: two worker processes on the loopback interface run a search and a
child training; the results equal the one-worker run's with the same global batch and seed,
only the chief writes results, every worker checkpoints, and a rerun resumes on every worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT, error_line, free_ports, run_launch

SEARCH = ["--space=nb201", "--algorithm=darts_minus", "--dataset=digits", "--epochs=2", "--channels=4",
          "--layers=1", "--image_size=8", "--batch_size=32", "--max_train_examples=256", "--verbose=0"]
TRAIN = ["--model=|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
         "--dataset=digits", "--epochs=3", "--channels=8", "--layers=1", "--image_size=16", "--batch_size=32",
         "--max_train_examples=256", "--learning_rate=0.05", "--cutout=0", "--drop_path_rate=0",
         "--auxiliary_weight=0", "--verbose=0"]


def _two_workers(module: str, *args: str, timeout: int = 600) -> list[dict]:
    """Runs `launch.<module>` as both workers of a 2-worker cluster; returns their JSON reports."""
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-m", f"launch.{module}", *args, "--strategy=multi_worker"],
                                      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-4000:]
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


def _one_worker(module: str, data_dir, *args: str) -> dict:
    proc = run_launch(module, *args, "--strategy=one_device", data_dir=data_dir, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_worker_search_equals_one_worker_and_resumes_on_every_worker(tmp_path):
    one = _one_worker("search", None, *SEARCH, f"--workdir={tmp_path / 'one'}")
    workdir = tmp_path / "two"
    chief, other = _two_workers("search", *SEARCH, f"--workdir={workdir}")
    assert (chief["chief"], other["chief"]) == (True, False)
    assert chief["replicas"] == other["replicas"] == 2 and one["replicas"] == 1
    # Each step's global batch is the one-worker step's (tfnas.data.distribute_bilevel_dataset).
    assert chief["genotype"] == other["genotype"] == one["genotype"]
    alpha_one = np.asarray(json.loads((tmp_path / "one" / "genotype.json").read_text())["search"]["arch_state"]
                           ["cell/alpha"])
    alpha_two = np.asarray(json.loads((workdir / "genotype.json").read_text())["search"]["arch_state"]["cell/alpha"])
    assert np.abs(alpha_one).max() > 1e-2  # the search moved the architecture weights
    np.testing.assert_allclose(alpha_two, alpha_one, atol=2e-3)  # per-replica BatchNorm only
    # Only the chief writes results; the other worker keeps its own config and checkpoints.
    for name in ("genotype.json", "cells.png", "arch_weights.png", "history.json", "tensorboard", "checkpoints"):
        assert (workdir / name).exists(), name
    worker = workdir / "worker-1"
    assert sorted(os.listdir(worker)) == ["checkpoints", "config.json", "history.json"]
    assert json.loads((worker / "checkpoints" / "state.json").read_text())["epoch"] == 2
    # A restarted cluster resumes on every worker from its own last checkpoint.
    again = _two_workers("search", *SEARCH, f"--workdir={workdir}")
    assert [r["resumed_from_epoch"] for r in again] == [2, 2]
    assert again[0]["genotype"] == again[1]["genotype"] == one["genotype"]


@pytest.mark.slow
def test_two_worker_child_training_follows_one_worker(tmp_path):
    one = _one_worker("train", None, *TRAIN, f"--workdir={tmp_path / 'one'}")
    workdir = tmp_path / "two"
    chief, other = _two_workers("train", *TRAIN, f"--workdir={workdir}")
    assert (chief["chief"], other["chief"]) == (True, False) and chief["replicas"] == 2
    history_one = json.loads((tmp_path / "one" / "report.json").read_text())["history"]
    history_two = json.loads((workdir / "report.json").read_text())["history"]
    losses_one = [h["loss"] for h in history_one]
    assert losses_one[-1] < losses_one[0] - 0.2  # it trained
    losses_two = [h["loss"] for h in history_two]
    # The same global batches; BatchNorm statistics are per replica (16 images, not 32), so the
    # first epoch agrees closely and the paths drift apart slowly.
    assert abs(losses_two[0] - losses_one[0]) < 0.02
    np.testing.assert_allclose(losses_two, losses_one, rtol=0.1)
    assert losses_two[-1] < losses_two[0] - 0.2
    # Each worker keeps its own BatchNorm moving statistics (from its own rows), so each
    # evaluates a slightly different model; the chief's is the one written.
    assert abs(chief["test_accuracy"] - one["test_accuracy"]) < 0.1
    assert (workdir / "model.keras").exists() and (workdir / "report.json").exists()
    assert sorted(os.listdir(workdir / "worker-1")) == ["checkpoints", "config.json"]


def test_multi_worker_without_a_cluster_is_refused(tmp_path):
    env_free = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run([sys.executable, "-m", "launch.search", *SEARCH, "--strategy=multi_worker",
                           f"--workdir={tmp_path}"], cwd=ROOT, env=dict(env_free, TF_CPP_MIN_LOG_LEVEL="3"),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "TF_CONFIG" in error_line(proc.stderr)
    assert not os.listdir(tmp_path)  # refused before anything is written


@pytest.mark.slow
def test_two_workers_split_per_cell_scoring_and_get_every_score(tmp_path, data_dir):
    """`launch.rank` under a 2-worker cluster: each worker scores half of the sample (its own
    resumable partial file), the scores are summed across the cluster and equal the one-worker run's."""
    args = ["--space=nb201", "--scorer=naswot", "--num_cells=5", "--channels=4", "--layers=1", "--image_size=8",
            "--batch_size=8", "--seed=3", f"--data_dir={data_dir}"]
    one = _one_worker("rank", data_dir, *args, f"--workdir={tmp_path / 'one'}")
    workdir = tmp_path / "two"
    chief, other = _two_workers("rank", *args, f"--workdir={workdir}")
    assert chief["scoring_tasks"] == other["scoring_tasks"] == 2 and one["scoring_tasks"] == 1
    saved_one = json.loads((tmp_path / "one" / "naswot_scores.json").read_text())["cells"]
    saved_two = json.loads((workdir / "naswot_scores.json").read_text())["cells"]
    assert [c["index"] for c in saved_two] == [c["index"] for c in saved_one]
    np.testing.assert_allclose([c["score"] for c in saved_two], [c["score"] for c in saved_one], rtol=1e-5)
    assert chief["kendall_tau"] == pytest.approx(one["kendall_tau"])
    assert not (workdir / "worker-1" / "naswot_scores.json").exists()  # only the chief writes results
    assert (chief["cells_scored_here"], other["cells_scored_here"], one["cells_scored_here"]) == (3, 2, 5)


@pytest.mark.slow
def test_two_workers_split_dna_rating_and_find_the_one_worker_network(tmp_path):
    """`launch.dna` under a 2-worker cluster: the students train data-parallel (each worker half of
    every batch, the gradients summed), each worker rates its half of every block's children, and
    the summed ratings give the one-worker search up to per-worker BatchNorm statistics."""
    from tests.launch.test_dna import _TINY

    reports = _two_workers("dna", *_TINY, f"--workdir={tmp_path / 'two'}")
    # The teacher trains data-parallel too: the same teacher on both workers. The one-worker run
    # below reads it back, so the students and ratings are compared under one teacher (a 4-step
    # teacher with per-worker BatchNorm is another teacher: block losses up to 20% apart;
    # the teacher's own data-parallel step: tests/children/test_training.py).
    teachers = [json.loads((tmp_path / d / "teacher.json").read_text()) for d in ("two", "two/worker-1")]
    assert [t["training_tasks"] for t in teachers] == [2, 2]
    assert teachers[0]["heldout_accuracy"] == teachers[1]["heldout_accuracy"]
    (tmp_path / "one").mkdir()
    for name in ("config.json", "teacher.json", "teacher.weights.h5"):
        shutil.copy(tmp_path / "two" / name, tmp_path / "one" / name)
    one_report = _one_worker("dna", None, *_TINY, f"--workdir={tmp_path / 'one'}")
    assert [r["student_training_tasks"] for r in (one_report, *reports)] == [1, 2, 2]
    one, (chief, other) = one_report["search"], (report["search"] for report in reports)
    # Both workers apply the same summed gradients: the same students, so the same ratings.
    assert chief["block_losses"] == other["block_losses"] and chief["genotype"] == other["genotype"]
    progress = [json.loads((tmp_path / d / "students_progress.json").read_text())["block_losses"]
                for d in ("one", "two", "two/worker-1")]
    assert progress[1] == progress[2]  # each worker's loss is the cluster's (summed) batch loss
    np.testing.assert_allclose(progress[1], progress[0], rtol=0.01)  # per-worker BatchNorm only
    assert progress[1] != progress[0]  # ...which shows: each worker trained on its half of the batch
    np.testing.assert_allclose(chief["block_losses"], one["block_losses"], rtol=0.02)
    assert (chief["rating_tasks"], other["rating_tasks"], one["rating_tasks"]) == (2, 2, 1)
    assert chief["children_rated"] == other["children_rated"] == one["children_rated_here"] == 49
    assert chief["children_rated_here"] + other["children_rated_here"] == 49
    assert min(chief["children_rated_here"], other["children_rated_here"]) >= 20
