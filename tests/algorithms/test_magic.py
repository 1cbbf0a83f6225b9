"""MAGIC-T (arXiv 2108.12821): adjacent training paths differ in exactly one operator."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnas.algorithms import MagicT, build_search
from tfnas.algorithms.runner import make_search_config, restore_search, search


def _build(space: str, seed: int = 0):
    config = make_search_config("magic_t", space, epochs=1, batch_size=4, channels=4, layers=1 if space == "nb201" else 3,
                                seed=seed)
    return build_search(config, space, 10, (8, 8, 3), steps_per_epoch=4)


def _paths_during_fit(algorithm, steps: int) -> list[np.ndarray]:
    seen = [np.concatenate(algorithm.paths())]

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(np.concatenate(algorithm.paths()))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * steps, 8, 8, 3)).astype("float32")
    y = rng.integers(10, size=4 * steps)
    data = tf.data.Dataset.from_tensor_slices(((x, y), (x, y))).batch(4)
    algorithm.fit(data, epochs=1, verbose=0, callbacks=[Record()])
    return seen


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_each_step_changes_exactly_one_op_of_the_previous_path(space):
    algorithm = _build(space)
    assert isinstance(algorithm, MagicT)
    paths = _paths_during_fit(algorithm, steps=12)
    assert len(paths) == 13
    for before, after in zip(paths, paths[1:]):
        assert int(np.sum(before != after)) == 1, (before, after)
    changed = {int(np.flatnonzero(a != b)[0]) for a, b in zip(paths, paths[1:])}
    assert len(changed) > 1  # the modified edge is drawn anew each step


def test_the_sampled_path_is_the_held_path_and_the_weights_move():
    algorithm = _build("nb201")
    supernet = algorithm.supernet
    path = algorithm.paths()[0]
    for _ in range(5):  # the Gumbel-max sample of the supernet is exactly the path
        index = keras.ops.convert_to_numpy(supernet.arch_inputs("cell")["index"])
        assert index.tolist() == path.tolist()
    before = [keras.ops.convert_to_numpy(v).copy() for v in supernet.weight_variables]
    _paths_during_fit(algorithm, steps=3)
    moved = [not np.allclose(a, keras.ops.convert_to_numpy(b)) for a, b in zip(before, supernet.weight_variables)]
    assert any(moved)


def test_the_first_path_is_seeded_and_covers_the_ops():
    first = [np.concatenate(_build("darts", seed=s).paths()) for s in (0, 0, 1)]
    assert first[0].tolist() == first[1].tolist() and first[0].tolist() != first[2].tolist()
    assert len(set(first[0].tolist())) > 2


class _Killed(Exception):
    pass


class _KillAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise _Killed()


@pytest.mark.slow
def test_a_resumed_run_continues_the_same_walk(tmp_path):
    config = make_search_config("magic_t", "nb201", epochs=2, batch_size=32, channels=4, layers=1)
    kwargs = dict(space="nb201", dataset="digits", image_size=8, max_train_examples=256, verbose=0)
    search(config, workdir=str(tmp_path / "full"), **kwargs)
    with pytest.raises(_Killed):
        search(config, workdir=str(tmp_path / "part"), callbacks=[_KillAfterFirstEpoch()], **kwargs)
    report = search(config, workdir=str(tmp_path / "part"), **kwargs)
    assert report["resumed_from_epoch"] == 1
    full, part = restore_search(str(tmp_path / "full")), restore_search(str(tmp_path / "part"))
    assert np.concatenate(full.paths()).tolist() == np.concatenate(part.paths()).tolist()
    fresh = _build("nb201")  # the walk moved away from the seeded first path
    assert np.concatenate(full.paths()).tolist() != np.concatenate(fresh.paths()).tolist()


# ---------------------------------------------------------------------------- MAGIC-A
def test_features_returns_every_search_cell_output_and_a_fixed_path_runs_that_child():
    algorithm = _build("nb201")
    supernet = algorithm.supernet
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 3)).astype("float32")
    logits, cells = supernet.features(x, training=True)
    assert len(cells) == 3 and logits.shape == (4, 10)
    path = algorithm.paths()[0]  # MAGIC-T's sample is its path: the same child both ways
    fixed, fixed_cells = supernet.features(x, training=True, path=path.astype("int32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fixed), keras.ops.convert_to_numpy(logits), rtol=1e-5,
                               atol=1e-5)
    other = path.copy()
    other[0] = (other[0] + 1) % 5
    _, other_cells = supernet.features(x, training=True, path=other.astype("int32"))
    assert not np.allclose(keras.ops.convert_to_numpy(other_cells[0]), keras.ops.convert_to_numpy(fixed_cells[0]))


def _magic_a(name: str, **changes):
    config = make_search_config(name, "nb201", epochs=1, batch_size=4, channels=4, layers=1).replace(**changes)
    return build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=4)


def test_alignment_loss_is_zero_on_the_anchor_and_weighted_elsewhere():
    algorithm = _magic_a("magic_a", anchor_weight=2.0)
    supernet = algorithm.supernet
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 8, 8, 3)).astype("float32"), rng.integers(10, size=4)
    anchor = keras.ops.convert_to_numpy(algorithm.anchor_path)
    names = list(supernet.op_names)

    def loss_on(path):
        removed = [(e, o) for e, op in enumerate(path) for o in range(len(names)) if o != int(op)]
        with supernet.ops_removed(removed):
            loss, cross_entropy, _ = algorithm._loss_terms(x, y)
        return float(loss), float(np.mean(keras.ops.convert_to_numpy(cross_entropy)))

    loss, ce = loss_on(anchor)
    assert loss == pytest.approx(ce, rel=1e-5)  # the sampled child is the anchor: nothing to align
    other = anchor.copy()
    other = (other + 1) % len(names)  # every edge changed: the cell outputs differ
    loss, ce = loss_on(other)
    _, cells = supernet.features(x, training=True, path=other.astype("int32"))
    _, anchor_cells = supernet.features(x, training=True, path=anchor.astype("int32"))
    want = np.mean([np.sum((keras.ops.convert_to_numpy(c) - keras.ops.convert_to_numpy(a)) ** 2)
                    / np.sum(keras.ops.convert_to_numpy(a) ** 2) for c, a in zip(cells, anchor_cells)])
    assert want > 0 and loss == pytest.approx(ce + 2.0 * want, rel=1e-4)


@pytest.mark.parametrize("name", ["magic_a", "magic_at"])
def test_the_anchor_is_refreshed_to_the_best_candidate_every_anchor_every_steps(name):
    algorithm = _magic_a(name, anchor_every=3, anchor_candidates=6)
    anchors = [keras.ops.convert_to_numpy(algorithm.anchor_path).copy()]

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            anchors.append(keras.ops.convert_to_numpy(algorithm.anchor_path).copy())

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(28, 8, 8, 3)).astype("float32"), rng.integers(10, size=28)
    algorithm.fit(tf.data.Dataset.from_tensor_slices(((x, y), (x, y))).batch(4), epochs=1, verbose=0,
                  callbacks=[Record()])
    changes = [i for i in range(1, len(anchors)) if not np.array_equal(anchors[i], anchors[i - 1])]
    assert changes and all((i - 1) % 3 == 0 for i in changes)  # only at steps 0, 3, 6 (after them: 1, 4, 7)
    if name == "magic_at":
        paths = _paths_during_fit(algorithm, steps=3)
        assert all(int(np.sum(a != b)) == 1 for a, b in zip(paths, paths[1:]))


def test_magic_a_refuses_a_zero_weight():
    with pytest.raises(ValueError, match="anchor_weight > 0"):
        _magic_a("magic_a", anchor_weight=0.0)


# ---------------------------------------------------------------------------- distinct cells
def test_distinct_cells_are_one_encoding_per_benchmark_isomorphism_class():
    from tfnas.algorithms.spos_distinct import distinct_cell_paths
    from tfnas.genotypes.nb201 import NB201Genotype
    from tfnas.spaces import nb201 as nb201_space

    classes = distinct_cell_paths()
    assert classes.shape == (6466, 6)  # NAS-Bench-201's count of unique architectures
    keys = {NB201Genotype(tuple(nb201_space.OPS[i] for i in row)).unique_str() for row in classes}
    assert len(keys) == 6466


def test_spos_distinct_trains_only_representatives_of_distinct_cells():
    from tfnas.algorithms.spos_distinct import distinct_cell_paths

    config = make_search_config("spos_distinct", "nb201", epochs=1, batch_size=4, channels=4, layers=1)
    algorithm = build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=4)
    paths = _paths_during_fit(algorithm, steps=10)
    allowed = {tuple(row) for row in distinct_cell_paths().tolist()}
    assert all(tuple(p.tolist()) in allowed for p in paths)
    assert len({tuple(p.tolist()) for p in paths}) > 5  # drawn anew each step
    with pytest.raises(ValueError, match="samples NB201 cells"):
        darts = make_search_config("spos_distinct", "darts", epochs=1, batch_size=4, channels=4, layers=3)
        build_search(darts, "darts", 10, (8, 8, 3), steps_per_epoch=4)
