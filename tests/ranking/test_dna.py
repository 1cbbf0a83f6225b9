"""DNA (arXiv 1911.13053) at tiny size: blocks fed by the teacher, rating, resume, traversal."""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import tensorflow as tf

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ranking import ProxyConfig, ScoringContext, make_scorer, sample_cells
from tfnas.ranking.dna import NUM_BLOCKS, Dna, DnaConfig, relative_l1, search, traverse
from tfnas.spaces import nb201 as nb201_space

_TINY = dict(teacher_layers=1, teacher_epochs=1, student_epochs=2, batch_size=16, train_examples=64,
             val_examples=16, eval_batch_size=8)


def _context():
    rng = np.random.default_rng(0)
    return ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8, batch_size=8),
                          images=rng.normal(size=(80, 8, 8, 3)).astype(np.float32), labels=rng.integers(0, 10, 80))


def _student_weights(run: Dna) -> list[np.ndarray]:
    return [v.numpy() for vs in run.students.variables for v in vs]


def test_each_block_learns_the_teacher_block_from_the_teacher_s_previous_output(tmp_path):
    scorer = make_scorer("dna", workdir=str(tmp_path), **_TINY)
    cells = sample_cells(3, seed=1)
    scores = scorer.score(cells, _context())
    run = scorer.run
    losses = run.block_losses(cells)
    assert losses.shape == (3, NUM_BLOCKS) and np.all(np.isfinite(losses)) and np.all(losses > 0)
    np.testing.assert_allclose(scores, -losses.sum(axis=1))  # a lower summed block loss rates higher
    assert scorer.upstream_seconds()["supernet_training_seconds"] > 0
    assert scorer.settings()["teacher_heldout_accuracy"] is not None
    # Recompute block 2's rating by hand: its input is the teacher's stage-2 output, its target the
    # teacher's stage-3 output (with the student's own stage-2 output as input the value differs).
    held_out = run.context.images(80)[0][64:]
    column = {op: j for j, op in enumerate(nb201_space.OPS)}
    path = tf.constant([column[op] for op in cells[0].ops], tf.int32)
    by_hand, chained = [], []
    for start in (0, 8):
        guide = run.features(tf.constant(held_out[start:start + 8]), training=False)
        by_hand.append(float(relative_l1(run.students.forward(2, guide[2], path), guide[3])))
        own = run.students.forward(0, guide[0], path)
        own = run.students.forward(1, own, path)
        chained.append(float(relative_l1(run.students.forward(2, own, path), guide[3])))
    np.testing.assert_allclose(losses[0, 2], np.mean(by_hand), rtol=1e-5)
    assert abs(np.mean(chained) - losses[0, 2]) > 1e-4
    # Blocks are independent: block 0's loss has no gradient in blocks 1 and 2.
    guide = run.features(tf.constant(held_out[:8]), training=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(run.students.forward(0, guide[0], path) - guide[1]))
    grads = tape.gradient(loss, run.students.variables[1] + run.students.variables[2])
    assert all(g is None for g in grads)
    progress = json.loads((tmp_path / "students_progress.json").read_text())
    assert progress["epochs"] == 2 and len(progress["block_losses"]) == 2
    # DNA's search: the lowest summed loss among the cells within the parameter budget.
    free = NB201Genotype(("skip_connect",) * 6)  # no parameters in the cell
    pool = list(cells) + [free]
    found = search(run, budget=None, cells=pool)
    assert found["cell"] == pool[int(np.argmin(run.block_losses(pool).sum(axis=1)))].to_string()
    tight = search(run, budget=found["params"] - 1 if found["cell"] != free.to_string() else 0, cells=pool)
    assert tight["cell"] != found["cell"] and tight["fitting"] < len(pool)
    assert search(run, budget=1.0, cells=pool)["cell"] is None  # below the fixed stem and head


def test_a_cluster_task_rates_its_share_of_the_cells_and_the_shares_sum_to_the_whole(tmp_path):
    cells = sample_cells(5, seed=2)
    whole = Dna(str(tmp_path), DnaConfig(**_TINY), _context()).block_losses(cells)
    shares = []
    for position in (0, 1):  # the same workdir: the teacher and students are read back, not retrained
        context = _context()
        context.share, context.combine = (position, 2), lambda values: values  # no cluster: no sum
        run = Dna(str(tmp_path), DnaConfig(**_TINY), context)
        shares.append(run.block_losses(cells))
        rated = np.arange(len(cells)) % 2 == position
        assert np.all(shares[-1][~rated] == 0) and np.all(shares[-1][rated] > 0)
    np.testing.assert_allclose(shares[0] + shares[1], whole, rtol=1e-6)
    scorer = make_scorer("dna", workdir=str(tmp_path), **_TINY)
    context = _context()
    context.share, context.combine = (1, 2), lambda values: np.asarray(values) * 2  # a stand-in sum
    scorer.score(cells, context)
    assert scorer.scored_here == 2 and scorer.cluster_seconds is not None


def test_cluster_tasks_train_the_students_on_their_rows_and_apply_the_summed_gradient(tmp_path):
    """Two tasks (threads, summed at a barrier as an all-reduce would): each takes half of every
    batch, both apply the summed gradient, so both keep the same students, which differ from
    the one-process students by per-task BatchNorm statistics only."""
    initial = []

    def same_start(run):  # one process builds each run's students anew: start all three alike
        build = run.build_students

        def built():
            students = build()
            variables = [v for vs in students.variables for v in vs]
            if not initial:
                initial.extend(v.numpy() for v in variables)
            for v, value in zip(variables, initial):
                v.assign(value)
            return students

        run.build_students = built
        return run

    one = same_start(Dna(str(tmp_path / "one"), DnaConfig(**_TINY), _context()))
    one.train_students()
    barrier, sent, runs = threading.Barrier(2, timeout=600), [None, None], [None, None]

    def task(position):
        def combine(values):  # the cluster's sum: every task gets both tasks' arrays added
            sent[position] = np.array(values)
            barrier.wait()
            total = sent[0] + sent[1]
            barrier.wait()
            return total

        workdir = tmp_path / f"task{position}"
        workdir.mkdir()
        for name in ("config.json", "teacher.json", "teacher.weights.h5"):  # the teacher read back
            shutil.copy(tmp_path / "one" / name, workdir / name)
        context = _context()
        context.share, context.combine = (position, 2), combine
        runs[position] = same_start(Dna(str(workdir), DnaConfig(**_TINY), context))
        runs[position].train_students()

    threads = [threading.Thread(target=task, args=(position,)) for position in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(run, Dna) and run.students is not None for run in runs)
    for a, b in zip(_student_weights(runs[0]), _student_weights(runs[1])):
        np.testing.assert_array_equal(a, b)
    # The same training up to per-task BatchNorm statistics (Adam's sign-like first steps make
    # the weights themselves drift apart where a gradient is near zero: compared by the losses).
    assert runs[0].progress["block_losses"] == runs[1].progress["block_losses"]
    np.testing.assert_allclose(runs[0].progress["block_losses"], one.progress["block_losses"], rtol=0.05)
    assert runs[0].progress["block_losses"] != one.progress["block_losses"]  # each task saw half of each batch
    context = _context()
    context.share, context.combine = (0, 32), lambda values: values
    with pytest.raises(ValueError, match="batch_size=16 is smaller than the cluster's 32 tasks"):
        Dna(str(tmp_path / "one"), DnaConfig(**_TINY), context).train_students()


def test_an_interrupted_run_resumes_to_the_same_students(tmp_path):
    whole = Dna(str(tmp_path / "whole"), DnaConfig(**_TINY), _context())
    whole.train_students()

    def stop_after_first_epoch(line):
        if "epoch 1/2" in line:
            raise KeyboardInterrupt

    cut = Dna(str(tmp_path / "cut"), DnaConfig(**_TINY), _context(), log=stop_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        cut.train_students()
    resumed = Dna(str(tmp_path / "cut"), DnaConfig(**_TINY), _context())
    resumed.train_students()
    assert json.loads((tmp_path / "cut" / "students_progress.json").read_text())["epochs"] == 2
    for a, b in zip(_student_weights(whole), _student_weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    Dna(str(tmp_path), DnaConfig(**_TINY), _context())
    with pytest.raises(ValueError, match="holds a DNA run with other settings"):
        Dna(str(tmp_path), DnaConfig(**{**_TINY, "student_epochs": 3}), _context())


@pytest.mark.parametrize("change, message", [
    ({"learning_rates": (0.1, 0.1)}, "learning_rates needs 3 positive rates"),
    ({"student_epochs": 0}, "student_epochs must be a positive integer"),
    ({"teacher_cell": "|conv~0|"}, "A NAS-Bench-201 string has 3"),
    ({"teacher_weights": " "}, "teacher_weights must be a zoo weights name"),
])
def test_bad_settings_get_a_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        DnaConfig(**change)


def test_traverse_takes_the_lowest_loss_that_fits_the_budget():
    losses = np.array([[0.3, 0.3], [0.1, 0.1], [0.2, 0.1]])
    costs = np.array([10, 30, 20])
    assert traverse(losses, costs, None) == 1
    assert traverse(losses, costs, 25) == 2
    assert traverse(losses, costs, 5) is None
    NB201Genotype.from_string(nb201_space.RESNET_CELL)  # the teacher's cell is a valid cell


_ZOO_TEACHER = "nb201_resnet.c8_l2_s16_cifar10"


def test_a_zoo_teacher_is_checked_loaded_and_not_trained(tmp_path):
    from tfnas.applications import create_model

    rng = np.random.default_rng(0)
    n = DnaConfig().train_examples + 16
    context = ScoringContext(ProxyConfig(channels=8, layers=1, image_size=16, batch_size=8),
                             images=rng.normal(size=(n, 16, 16, 3)).astype(np.float32), labels=rng.integers(0, 10, n))
    run = Dna(str(tmp_path / "dna"), DnaConfig(teacher_weights=_ZOO_TEACHER, val_examples=16, eval_batch_size=8),
              context)
    teacher = run.train_teacher()
    assert run.training_seconds == 0.0 and not (tmp_path / "dna" / "teacher.weights.h5").exists()
    assert 0.0 <= run.teacher_accuracy <= 100.0
    shipped = create_model(_ZOO_TEACHER, classifier_activation=None)
    x = context.images(2)[0]
    np.testing.assert_allclose(np.asarray(teacher(x)), np.asarray(shipped(x)), rtol=1e-5, atol=1e-5)
    stem, *stages = run.features(x)
    assert stem.shape == (2, 16, 16, 8) and [s.shape[-1] for s in stages] == [8, 16, 32]
    assert json.loads((tmp_path / "dna" / "config.json").read_text())["dna"]["teacher_weights"] == _ZOO_TEACHER


@pytest.mark.parametrize("change, message", [
    (dict(teacher_layers=1), "does not fit"),
    (dict(teacher_epochs=5), "does not fit"),
    (dict(train_examples=1000), "held-out images"),
])
def test_a_zoo_teacher_that_does_not_fit_the_run_is_refused(tmp_path, change, message):
    context = ScoringContext(ProxyConfig(channels=8, layers=1, image_size=16, batch_size=8),
                             images=np.zeros((8, 16, 16, 3), np.float32), labels=np.zeros(8, np.int64))
    run = Dna(str(tmp_path), DnaConfig(teacher_weights=_ZOO_TEACHER, **change), context)
    with pytest.raises(ValueError, match=message):
        run.train_teacher()
