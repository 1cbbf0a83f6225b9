"""Tests for tfnas.budgets.losses: exact cost tables, expected cost, penalties, hard budgets."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfnas.genotypes.published_blocks as published
from tfnas.budgets import losses
from tfnas.budgets.counters import count_madds, count_params
from tfnas.children.mobile_net import build_mobile_network
from tfnas.children.nb201_net import build_nb201_network
from tfnas.genotypes.block import BlockGenotype
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import nb201 as nb201_space
from tfnas.spaces.mobile import MobileSpace, StageSpec


def _indices(space, genotype):
    result = []
    for layer in genotype.layers():
        spec = layer.spec
        if not spec.is_zero:
            spec = dataclasses.replace(spec, activation=genotype.activation_of(spec))
        result.append(list(space.candidates(layer.stage, layer.index)).index(spec))
    return result


@pytest.mark.parametrize("name", ["proxylessnas_mobile", "efficientnet_b0"])
def test_mobile_table_equals_counted_madds_and_params(name):
    genotype = getattr(published, name.upper())
    space = MobileSpace.skeleton_of(genotype)
    net = build_mobile_network(genotype)
    idx = _indices(space, genotype)
    madds = losses.mobile_cost_table(space, "madds", se_base=genotype.se_base)
    params = losses.mobile_cost_table(space, "params", se_base=genotype.se_base)
    assert madds.cost(idx) == count_madds(net)
    assert params.cost(idx) == count_params(net).trainable


def test_mobile_table_small_space_random_members():
    space = MobileSpace(stem=8, stages=(StageSpec(8, 1, 2), StageSpec(16, 2, 2)), head=32)
    table = losses.mobile_cost_table(space, "madds", input_size=32, num_classes=10)
    for seed in range(3):
        g = space.sample(seed=seed)
        net = build_mobile_network(g, input_shape=(32, 32, 3), num_classes=10)
        assert table.cost(_indices(space, g)) == count_madds(net)


def test_nb201_table_equals_counted_child():
    cell = NB201Genotype(("nor_conv_3x3", "nor_conv_1x1", "none", "skip_connect", "nor_conv_3x3", "avg_pool_3x3"))
    net = build_nb201_network(cell, channels=8, cells_per_stage=2, num_classes=10, input_shape=(16, 16, 3))
    idx = [nb201_space.OPS.index(op) for op in cell.ops]
    kw = dict(channels=8, cells_per_stage=2, input_size=16)
    assert losses.nb201_cost_table("madds", **kw).cost(idx) == count_madds(net)
    assert losses.nb201_cost_table("params", **kw).cost(idx) == count_params(net).trainable


def test_expected_cost_is_exact_on_one_hot_and_differentiable():
    table = losses.CostTable("madds", 5.0, ((1.0, 3.0, 0.0), (2.0, 4.0)))
    probs = [keras.ops.one_hot(1, 3), keras.ops.one_hot(0, 2)]
    assert float(losses.expected_cost(probs, table)) == table.cost((1, 0)) == 10.0
    logits = [tf.Variable([0.0, 0.0, 0.0]), tf.Variable([0.0, 0.0])]
    with tf.GradientTape() as tape:
        value = losses.expected_cost([tf.nn.softmax(v) for v in logits], table)
    grads = tape.gradient(value, logits)
    assert float(value) == pytest.approx(5.0 + 4.0 / 3 + 3.0)
    assert float(grads[0][1]) > 0 > float(grads[0][2])  # pushing towards the costly op raises the cost


def test_proxyless_fbnet_and_hinge_forms():
    ce = keras.ops.convert_to_tensor(2.0)
    assert float(losses.proxyless_loss(ce, 120.0, 100.0, 0.5)) == pytest.approx(2.1)
    assert float(losses.fbnet_loss(ce, np.e ** 2, 0.2, 0.6)) == pytest.approx(2.0 * 0.2 * 2 ** 0.6, rel=1e-5)
    assert float(losses.budget_hinge(90.0, 100.0)) == 0.0
    assert float(losses.budget_hinge(150.0, 100.0)) == pytest.approx(0.5)
    table = losses.CostTable("latency_ms", 0.0, ((1.0, 10.0),))
    fb = losses.BudgetLoss(table, "fbnet")
    assert fb.multiplicative
    assert float(fb(ce, [keras.ops.convert_to_tensor([0.0, 1.0])])) == pytest.approx(2.0 * 0.2 * np.log(10.0) ** 0.6, rel=1e-5)
    with pytest.raises(ValueError, match="target"):
        losses.BudgetLoss(table, "proxyless")
    with pytest.raises(ValueError, match="form"):
        losses.BudgetLoss(table, "nope", target=1.0)


def test_meet_budget_respects_the_budget_and_keeps_the_argmax_when_it_fits():
    rng = np.random.default_rng(0)
    table = losses.CostTable("madds", 3.0, tuple(tuple(rng.uniform(0, 10, 4)) for _ in range(8)))
    probs = [rng.dirichlet(np.ones(4)) for _ in range(8)]
    argmax = tuple(int(np.argmax(p)) for p in probs)
    assert losses.meet_budget(probs, table, table.cost(argmax)) == argmax
    for budget in np.linspace(table.min_cost(), table.cost(argmax), 7):
        assert table.cost(losses.meet_budget(probs, table, budget)) <= budget
    with pytest.raises(ValueError, match="cheapest"):
        losses.meet_budget(probs, table, table.min_cost() - 1)


def test_hard_budget_child_counted_exactly():
    space = MobileSpace(stem=8, stages=(StageSpec(8, 1, 2), StageSpec(16, 2, 2)), head=32, activations=("relu",))
    table = losses.mobile_cost_table(space, "madds", input_size=32, num_classes=10)
    rng = np.random.default_rng(1)
    probs = [rng.dirichlet(np.ones(len(row))) for row in table.choices]
    budget = 0.5 * (table.min_cost() + table.max_cost())
    choice = losses.meet_budget(probs, table, budget)
    stages, d = [], 0
    for s, stage in enumerate(space.stages):
        blocks = []
        for slot in range(stage.depth):
            blocks.append(space.candidates(s, slot)[choice[d]])
            d += 1
        stages.append(tuple(blocks))
    genotype = BlockGenotype(stem=8, stages=tuple(stages), head=32)
    madds = count_madds(build_mobile_network(genotype, input_shape=(32, 32, 3), num_classes=10))
    assert madds == table.cost(choice) <= budget


def test_nb201_latency_table_fits_the_measured_latencies(data_dir):
    table, r2 = losses.nb201_latency_table("pixel3", data_dir=str(data_dir))
    assert table.metric == "latency_ms" and table.num_decisions == 6
    assert r2 > 0.8
    assert all(row[0] == 0.0 for row in table.choices)
    conv3 = nb201_space.OPS.index("nor_conv_3x3")
    assert all(row[conv3] > row[nb201_space.OPS.index("skip_connect")] for row in table.choices)
    with pytest.raises(ValueError, match="device"):
        losses.nb201_latency_table("no_such_device", data_dir=str(data_dir))
