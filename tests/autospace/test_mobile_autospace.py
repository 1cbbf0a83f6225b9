"""AutoSpace on the mobile block space: populations, mutation/recombination, the learned space."""

from __future__ import annotations

import random

import numpy as np

from tfnas.algorithms.autospace import AutoSpaceConfig, evolve, mobile_population
from tfnas.algorithms.mobile_pipeline import MobileExperimentConfig
from tfnas.spaces.mobile import CandidateSpace


def _setting():
    space, reference, _, _ = MobileExperimentConfig.preset("cifar").skeleton()
    return space, reference


def test_population_is_seeded_by_the_reference_and_stays_in_the_space_when_asked():
    space, reference = _setting()
    population = mobile_population(space, reference, mutation_range="space")
    slots = [(s, i) for s, st in enumerate(space.stages) for i in range(st.depth)]
    assert population.num_decisions == len(slots)
    rng = random.Random(0)
    config = AutoSpaceConfig(mutation_rate=1.0, crossover_rate=1.0)
    for first in (True, False):
        sampled = population.sample(3, config, rng, first=first)
        for d, cands in enumerate(sampled):
            assert len(set(cands)) == len(cands) == 3
            allowed = space.candidates(*slots[d])
            assert all(c in allowed for c in cands)
            if first:
                assert cands[0] == population.reference[d]


def test_open_mutation_makes_blocks_outside_the_hand_made_options_that_build_and_are_priced():
    from tfnas.budgets.losses import mobile_cost_table
    from tfnas.supernets.mobile import MobileSupernet

    space, reference = _setting()
    population = mobile_population(space, reference)  # "open" by default
    slots = [(s, i) for s, st in enumerate(space.stages) for i in range(st.depth)]
    rng = random.Random(0)
    config = AutoSpaceConfig(mutation_rate=1.0, crossover_rate=0.5)
    outside = []
    for _ in range(3):
        for d, cands in enumerate(population.sample(3, config, rng, first=False)):
            outside += [(d, c) for c in cands if c not in space.candidates(*slots[d])]
    assert outside, "no candidate left the hand-made options"
    assert any(not c.is_zero and (c.kernel == 9 or c.expansion not in (3, 6) or c.activation != "relu6")
               for _, c in outside)
    per_slot = [[reference_block] for reference_block in population.reference]
    for d, c in outside[:4]:
        if c not in per_slot[d]:
            per_slot[d].append(c)
    cands = CandidateSpace.from_slots(space, per_slot, act="relu6")
    net = MobileSupernet(cands, num_classes=10, input_shape=(32, 32, 3))
    assert tuple(net(np.zeros((1, 32, 32, 3), "float32")).shape) == (1, 10)
    table = mobile_cost_table(cands, "madds", input_size=32, num_classes=10)
    assert [len(row) for row in table.choices] == [len(c) for c in per_slot]
    for d, c in outside[:4]:  # a new block is priced above the zero block and differs from the reference's
        row = table.choices[d]
        assert row[per_slot[d].index(c)] > 0 or c.is_zero


def test_evolution_with_a_fitness_that_prefers_small_kernels_learns_them():
    space, reference = _setting()
    population = mobile_population(space, reference, mutation_range="space")

    def train(sampled, generation):  # stands in for a supernet: prefers kernel 7, then SE
        fitness = []
        for cands in sampled:
            w = np.array([1.0 if c.is_zero else (4.0 if c.kernel == 7 else 1.0) * (1.5 if c.se_ratio else 1.0)
                          for c in cands])
            fitness.append(len(cands) * w / w.sum())
        return fitness

    learned, records = evolve(population, train, AutoSpaceConfig(generations=15, sample_size=3, keep=2, seed=1))
    space_learned = CandidateSpace.from_slots(space, learned, act="relu6")
    assert space_learned.num_architectures() <= 2 ** len(learned)
    top = [cands[0] for cands in learned]
    assert sum(1 for b in top if not b.is_zero and b.kernel == 7) >= len(top) - 2
    genotype = space_learned.genotype([0] * len(learned))
    space.validate(genotype)
    space_learned.validate(genotype)
    assert CandidateSpace.from_json(space_learned.to_json()) == space_learned


def test_zoo_entry_of_the_searched_architecture_has_its_recorded_cost():
    from tfnas.budgets.counters import count_madds, count_params
    from tfnas.children.mobile_net import build_mobile_network
    from tfnas.genotypes.codec import load

    genotype = load("autospace_c10_proxy")
    model = build_mobile_network(genotype, input_shape=(32, 32, 3), num_classes=10)
    assert count_madds(model) == 2137504 <= MobileExperimentConfig.preset("cifar").budget_madds
    assert count_params(model).trainable == 206736
    space, _ = _setting()
    space.validate(genotype)


def test_width_multiplier_matches_mobilenet_v2_and_a_madds_budget():
    """MobileNetV2 x0.5 at 224x224 is the published 97M MAdds (the authors' TF-Slim checkpoint table); the
    bisection returns the widest multiplier under a budget."""
    from tfnas.algorithms.mobile_search import width_for_madds
    from tfnas.budgets.counters import count_madds
    from tfnas.children.mobile_net import build_mobile_network
    from tfnas.genotypes import published_blocks

    half = build_mobile_network(published_blocks.MOBILENET_V2.scaled(0.5), input_shape=(224, 224, 3),
                                num_classes=1000)
    assert round(count_madds(half) / 1e6) == 97
    width, scaled, madds = width_for_madds(published_blocks.MOBILENET_V2, 3.5e6, input_size=32, num_classes=10,
                                           steps=8)
    assert madds <= 3.5e6 < count_madds(build_mobile_network(published_blocks.MOBILENET_V2.scaled(width + 0.05),
                                                             input_shape=(32, 32, 3), num_classes=10))
    assert scaled.head == 1280 and scaled.stem % 8 == 0
