"""Tests for the single-path mobile supernet and the explicit-candidate mobile space (tiny shapes)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import assert_config_and_save_roundtrip
from tfnas.algorithms.mobile_search import run_search
from tfnas.algorithms.runner import make_search_config
from tfnas.budgets.counters import count_madds
from tfnas.budgets.losses import BudgetLoss, mobile_cost_table
from tfnas.children.mobile_net import build_mobile_network
from tfnas.spaces.mobile import CandidateSpace, MobileSpace, StageSpec

SHAPE = (8, 8, 3)
SKELETON = MobileSpace(stem=4, stages=(StageSpec(4, 1, 1), StageSpec(8, 2, 2)), head=16, kernels=(3, 5),
                       expansions=(3,), se_ratios=(0.0, 0.25), activations=("relu6",), block_types=("ir",))


def _space():
    return CandidateSpace.from_space(SKELETON, act="relu6")


def _supernet(**kwargs):
    from tfnas.supernets.mobile import MobileSupernet

    return MobileSupernet(_space(), num_classes=5, input_shape=SHAPE, seed=1, **kwargs)


def test_candidate_space_json_genotype_and_validation():
    space = _space()
    assert CandidateSpace.from_json(space.to_json()) == space
    assert space.num_architectures() == SKELETON.num_architectures()
    g = space.genotype([0, 1, len(space.candidates(1, 1)) - 1])
    space.validate(g)
    SKELETON.validate(g)
    assert g.stages[1][1].is_zero
    other = CandidateSpace.from_slots(space, [space.candidates(0, 0)[:1], space.candidates(1, 0)[:2],
                                              space.candidates(1, 1)[:1]], act="relu6")
    with pytest.raises(ValueError, match="Stage 1 slot 0"):
        other.validate(space.genotype([0, 3, 0]))
    with pytest.raises(ValueError, match="stride 2"):
        CandidateSpace(4, SKELETON.stages, 16, ((space.candidates(0, 0),), (space.candidates(0, 0), ()),))
    with pytest.raises(ValueError, match="format"):
        CandidateSpace.from_dict({"format": "x"})


def test_forward_variable_groups_and_sampling_changes_the_path():
    net = _supernet()
    x = np.random.default_rng(0).random((2,) + SHAPE).astype("float32")
    assert tuple(net(x).shape) == (2, 5)
    assert len(net.arch_variables) == 3
    arch = {id(v) for v in net.arch_variables}
    assert arch.isdisjoint({id(v) for v in net.weight_variables})
    assert id(net.temperature) not in arch | {id(v) for v in net.weight_variables}
    outputs = {np.asarray(net(x, training=False)).round(5).tobytes() for _ in range(8)}
    assert len(outputs) > 1  # a fresh path per call


def test_only_the_sampled_candidate_gets_weight_gradients():
    import tensorflow as tf

    net = _supernet()
    for a in net.arch_variables:  # force candidate 1 everywhere
        a.assign(np.where(np.arange(a.shape[0]) == 1, 30.0, -30.0).astype("float32"))
    net.temperature.assign(0.1)
    x = np.random.default_rng(1).random((2,) + SHAPE).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(net(x, training=True) ** 2)
    grads = tape.gradient(loss, net.weight_variables + net.arch_variables)
    named = dict(zip([v.path for v in net.weight_variables], grads))
    touched = {p.split("/")[0].split("_")[:3] and "_".join(p.split("/")[0].split("_")[:3])
               for p, g in named.items() if g is not None and float(tf.reduce_sum(tf.abs(g))) > 0}
    assert {"s1_b1_c1", "s2_b1_c1", "s2_b2_c1"} <= touched  # candidate layers are named s{stage}_b{slot}_c{j}
    assert not {"s1_b1_c0", "s2_b1_c0", "s2_b2_c0"} & touched
    assert all(g is not None for g in grads[-3:])  # straight-through gradient reaches alpha
    assert net.export() == _space().genotype([1, 1, 1])


def test_cost_table_matches_the_exported_child():
    net = _supernet()
    table = mobile_cost_table(net.space, input_size=SHAPE[0], num_classes=5)
    rng = np.random.default_rng(2)
    for _ in range(3):
        choices = [int(rng.integers(len(c))) for c in net.space.flat_slots()]
        child = build_mobile_network(net.export(choices), input_shape=SHAPE, num_classes=5)
        assert count_madds(child) == table.cost(choices)


def test_config_and_save_roundtrip_with_a_single_candidate_path():
    space = CandidateSpace.from_slots(_space(), [(c[0],) for c in _space().flat_slots()], act="relu6")
    from tfnas.supernets.mobile import MobileSupernet

    net = MobileSupernet(space, num_classes=5, input_shape=SHAPE)
    assert_config_and_save_roundtrip(net, np.ones((2,) + SHAPE, "float32"), atol=1e-5)


@pytest.mark.slow
def test_one_budgeted_gdas_epoch_moves_weights_and_alphas_and_meets_the_hard_budget():
    import tensorflow as tf

    from tfnas.supernets.mobile import MobileSupernet

    small = MobileSpace(stem=4, stages=(StageSpec(4, 1, 1), StageSpec(8, 2, 1)), head=16, kernels=(3, 5),
                        expansions=(3,), se_ratios=(0.0,), activations=("relu6",), block_types=("ir",))
    net = MobileSupernet(CandidateSpace.from_space(small, act="relu6"), num_classes=5, input_shape=SHAPE)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 255, (64,) + SHAPE).astype("uint8")
    labels = rng.integers(0, 5, (64,)).astype("int64")
    train_ds = tf.data.Dataset.from_tensor_slices((images, labels))
    table = mobile_cost_table(net.space, input_size=SHAPE[0], num_classes=5)
    before_a = [np.array(v) for v in net.arch_variables]
    before_w = [np.array(v) for v in net.weight_variables]
    budget = 0.5 * (table.min_cost() + table.max_cost())
    config = make_search_config("gdas", "nb201", epochs=1, batch_size=16)
    report = run_search(config, net, train_ds=train_ds, num_examples=64, budget=BudgetLoss(table, "fbnet"),
                        hard_budget=budget)
    assert any(np.abs(np.array(v) - b).max() > 0 for v, b in zip(net.arch_variables, before_a))
    assert any(np.abs(np.array(v) - b).max() > 0 for v, b in zip(net.weight_variables, before_w))
    child = build_mobile_network(net.export(report["choices"]), input_shape=SHAPE, num_classes=5)
    assert count_madds(child) == report["table_cost"] <= budget
    assert np.isfinite(report["final"]["expected_cost"])
