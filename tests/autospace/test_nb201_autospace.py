"""AutoSpace on NAS-Bench-201: the engine, the learned space, the masked supernet, a tiny real run."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tfnas.algorithms import autospace
from tfnas.algorithms.autospace import (
    AutoSpaceConfig,
    LearnedNB201Space,
    Population,
    evolve,
)
from tfnas.algorithms.runner import make_search_config
from tfnas.budgets.losses import BudgetLoss, nb201_cost_table
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import nb201 as nb201_space
from tfnas.supernets import SupernetConfig, build_supernet

LEARNED = (("nor_conv_3x3", "skip_connect"), ("nor_conv_1x1",), ("none", "avg_pool_3x3"),
           ("nor_conv_3x3",), ("skip_connect", "nor_conv_3x3"), ("none",))


def test_learned_space_json_members_and_validation():
    space = LearnedNB201Space(LEARNED)
    assert space.size == 8 == len(space.members())
    assert LearnedNB201Space.from_json(space.to_json()) == space
    for cell in space.members():
        space.validate(cell)
    with pytest.raises(ValueError, match="Edge 1"):
        space.validate(NB201Genotype(("nor_conv_3x3", "none", "none", "nor_conv_3x3", "skip_connect", "none")))
    with pytest.raises(ValueError, match="edge_ops\\[0\\]"):
        LearnedNB201Space((("conv_9x9",),) + LEARNED[1:])
    with pytest.raises(ValueError, match="format"):
        LearnedNB201Space.from_dict({"format": "other"})


@pytest.mark.parametrize("mixing", ["softmax", "gumbel"])
def test_masked_supernet_never_uses_ops_outside_the_space(mixing):
    config = SupernetConfig(space="nb201", channels=4, layers=1, input_shape=(8, 8, 3), mixing=mixing,
                            edge_ops=LEARNED)
    assert SupernetConfig.from_dict(config.to_dict()) == config
    net = build_supernet(config)
    for row, allowed in zip(net.arch_state()["cell/alpha"], LEARNED):
        for op, p in zip(nb201_space.OPS, row):
            assert (p > 0) == (op in allowed)
    for _ in range(5):
        arch = net.arch_inputs("cell")
        key = "weights" if mixing == "softmax" else "hard"
        chosen = np.asarray(arch[key])
        for row, allowed in zip(chosen, LEARNED):
            for op, w in zip(nb201_space.OPS, row):
                if op not in allowed:
                    assert w == 0.0
    LearnedNB201Space(LEARNED).validate(net.export())
    with pytest.raises(ValueError, match="not allowed"):
        net.export([0] * 6)


def test_edge_ops_refused_outside_nb201():
    with pytest.raises(ValueError, match="nb201 space only"):
        SupernetConfig(space="darts", edge_ops=LEARNED)


def test_evolution_keeps_the_fittest_candidates():
    # A fake supernet training that always prefers op "c" then "b": the learned space must keep them.
    preference = {"a": 0.1, "b": 0.3, "c": 0.6, "d": 0.05, "e": 0.05}

    def mutate(d, cand, rng):
        return rng.choice("abcde")

    def train(sampled, generation):
        probs = []
        for cands in sampled:
            w = np.array([preference[c] for c in cands])
            probs.append(w / w.sum())
        return probs

    population = Population([["a", "b"], ["a", "d"]], mutate, reference=["a", "a"])
    config = AutoSpaceConfig(generations=12, sample_size=3, keep=2, mutation_rate=0.5, seed=3)
    learned, records = evolve(population, train, config)
    assert len(records) == 12 and all(r["sampled"][0][0] == "a" for r in records[:1])
    assert learned == [("c", "b"), ("c", "b")]
    assert population.score(0, "c") > population.score(0, "a")


def test_population_sampling_is_distinct_and_reference_first():
    population = autospace.nb201_population()
    rng = random.Random(0)
    sampled = population.sample(3, AutoSpaceConfig(), rng, first=True)
    ref = NB201Genotype.from_string(autospace.NB201_REFERENCE).ops
    for cands, r in zip(sampled, ref):
        assert cands[0] == r and len(set(cands)) == len(cands) == 3


@pytest.mark.slow
def test_tiny_real_evolution_and_search_in_the_learned_space(data_dir):
    from tfnas.algorithms.mobile_search import load_search_data

    train_ds, n, shape, classes = load_search_data("cifar10", data_dir=str(data_dir), max_train_examples=128,
                                                   image_size=8)
    search = make_search_config("darts_minus", "nb201", epochs=1, batch_size=32, channels=4, layers=1)
    table = nb201_cost_table("madds")
    budget = BudgetLoss(table, "hinge", target=60e6)
    space, records = autospace.evolve_nb201(
        search, AutoSpaceConfig(generations=2, sample_size=2, keep=2), train_ds=train_ds, num_examples=n,
        input_shape=shape, num_classes=classes, budget=budget)
    assert len(records) == 2 and space.size <= 64 and space.fitness is not None
    report = autospace.search_nb201(
        make_search_config("gdas", "nb201", epochs=1, batch_size=32, channels=4, layers=1), space,
        train_ds=train_ds, num_examples=n, input_shape=shape, num_classes=classes, budget=budget,
        hard_budget=60e6)
    cell = NB201Genotype.from_string(report["genotype"])
    space.validate(cell)
    assert report["table_cost"] <= 60e6
    assert report["table_cost"] == table.cost([nb201_space.OPS.index(op) for op in cell.ops])
    assert np.isfinite(report["final"]["expected_cost"])
