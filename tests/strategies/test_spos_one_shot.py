"""SPOS supernet training and one-shot rating of cells with inherited weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfnas.algorithms.runner import make_search_config, restore_search, search
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.strategies import Budget, SupernetEvaluator, make_strategy

pytestmark = pytest.mark.slow  # one real (tiny) SPOS search, shared by the module

ALL_CONV = NB201Genotype(("nor_conv_3x3",) * 6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("spos"))
    config = make_search_config("spos", "nb201", epochs=2, batch_size=32, channels=4, layers=1)
    report = search(config, space="nb201", dataset="digits", workdir=workdir, image_size=8,
                    max_train_examples=256, verbose=0)
    return workdir, report


@pytest.fixture(scope="module")
def restored(trained):
    return restore_search(trained[0])


def test_spos_learns_no_architecture_and_samples_uniformly(restored):
    algorithm = restored
    assert algorithm.restored_epoch == 2 and algorithm.config.algorithm == "spos"
    supernet = algorithm.supernet
    for variable in supernet.arch_variables:  # never stepped: still exactly 0
        assert not np.any(keras.ops.convert_to_numpy(variable))
    counts = np.zeros((6, 5))
    for _ in range(200):
        index = keras.ops.convert_to_numpy(supernet.arch_inputs("cell")["index"])
        counts[np.arange(6), index] += 1
    share = counts / 200
    assert np.all(np.abs(share - 0.2) < 0.1), share


def test_spos_trains_the_weights(trained, restored):
    _, report = trained
    fresh = restored  # the restored weights differ from a new supernet's
    config = make_search_config("spos", "nb201", epochs=2, batch_size=32, channels=4, layers=1)
    from tfnas.algorithms import build_search

    init = build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=1)
    moved = [not np.allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
             for a, b in zip(fresh.supernet.weight_variables, init.supernet.weight_variables)]
    assert sum(moved) > len(moved) // 2
    assert np.isfinite(report["loss"])


def test_supernet_evaluator_fixes_the_path_and_rates_with_batch_statistics(restored):
    supernet = restored.supernet
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 8, 8, 3)).astype("float32")
    labels = rng.integers(10, size=64)
    evaluator = SupernetEvaluator(supernet, [(images, labels)])
    cell = NB201Genotype(("nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none", "nor_conv_3x3"))
    names = list(supernet.op_names)
    removed = [(e, o) for e, op in enumerate(cell.ops) for o, name in enumerate(names) if name != op]
    with supernet.ops_removed(removed):
        for _ in range(20):  # every draw is the cell's path
            index = keras.ops.convert_to_numpy(supernet.arch_inputs("cell")["index"])
            assert [names[i] for i in index] == list(cell.ops)
    first, seconds = evaluator.evaluate(cell)
    assert 0.0 <= first <= 100.0 and seconds > 0
    assert evaluator.evaluate(cell)[0] == first  # deterministic: the same path, the same batches
    with supernet.ops_removed(removed):
        a = keras.ops.convert_to_numpy(supernet(images, training=True))
    other = [(e, o) for e, op in enumerate(ALL_CONV.ops) for o, name in enumerate(names) if name != op]
    with supernet.ops_removed(other):
        b = keras.ops.convert_to_numpy(supernet(images, training=True))
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="at least one held-out batch"):
        SupernetEvaluator(supernet, [])


def test_a_strategy_searches_with_the_one_shot_evaluator(restored):
    supernet = restored.supernet
    rng = np.random.default_rng(1)
    batches = [(rng.normal(size=(32, 8, 8, 3)).astype("float32"), rng.integers(10, size=32))]
    trace = make_strategy("evolution", population_size=3, sample_size=2).search(
        SupernetEvaluator(supernet, batches), Budget(evaluations=5), seed=0)
    assert len(trace.trials) == 5 and trace.cost_seconds > 0


def test_restore_search_refuses_a_folder_that_is_not_a_search(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        restore_search(str(tmp_path))
