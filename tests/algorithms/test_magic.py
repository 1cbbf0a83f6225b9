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
