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

    def train(sampled, generation):  # K * softmax-like shares: the fitness scale
        fitness = []
        for cands in sampled:
            w = np.array([preference[c] for c in cands])
            fitness.append(len(cands) * w / w.sum())
        return fitness

    population = Population([["a", "b"], ["a", "d"]], mutate, reference=["a", "a"])
    config = AutoSpaceConfig(generations=12, sample_size=3, keep=2, mutation_rate=0.5, seed=3)
    learned, records = evolve(population, train, config)
    assert len(records) == 12 and all(r["sampled"][0][0] == "a" for r in records[:1])
    assert learned == [("c", "b"), ("c", "b")]
    assert population.score(0, "c") > population.score(0, "a")


def test_population_holds_motifs_and_samples_the_reference_first():
    population = autospace.nb201_population(size=6, seed=1)
    ref = NB201Genotype.from_string(autospace.NB201_REFERENCE)
    assert population.num_decisions == 1 and population.members[0][0] == ref
    assert len(population.members[0]) == 6 and all(isinstance(c, NB201Genotype) for c in population.members[0])
    sampled = population.sample(4, AutoSpaceConfig(), random.Random(0), first=True)
    assert sampled[0][0] == ref and len(set(sampled[0])) == 4


def test_motifs_leave_the_initial_population():
    """Mutation and crossover make motifs that were never in the population, and the
    evolution can keep them: a fake generation prefers cells with more convolutions."""
    population = autospace.nb201_population(size=4, seed=0)
    initial = set(population.members[0])

    def convs(cell):
        return sum(op.startswith("nor_conv") for op in cell.ops)

    def train(sampled, generation):
        (cells,) = sampled
        w = np.exp([convs(c) for c in cells])
        return [len(cells) * w / w.sum()]

    config = AutoSpaceConfig(generations=15, sample_size=4, keep=3, mutation_rate=0.7, seed=0)
    learned, _ = evolve(population, train, config)
    assert set(population.members[0]) - initial  # new motifs joined the population
    assert set(learned[0]) - initial  # and some of them are kept
    best_initial = max(convs(c) for c in initial)
    assert max(convs(c) for c in learned[0]) > best_initial
    mutant = autospace._motif_mutate(0, learned[0][0], random.Random(0))
    assert sum(a != b for a, b in zip(mutant.ops, learned[0][0].ops)) == 1


def test_learned_space_spanned_by_motifs():
    a = NB201Genotype.from_string(autospace.NB201_REFERENCE)
    b = NB201Genotype(("nor_conv_3x3",) * 6)
    space = LearnedNB201Space.spanned_by([(a, 1.5), (b, 0.9)])
    assert space.edge_ops[0] == ("nor_conv_3x3",) and space.edge_ops[1] == ("none", "nor_conv_3x3")
    members = space.members()
    assert a in members and b in members and space.size == 2**4
    assert LearnedNB201Space.from_json(space.to_json()) == space
    assert space.motifs == ((a.to_string(), 1.5), (b.to_string(), 0.9))
    with pytest.raises(ValueError, match="Edge 0"):
        LearnedNB201Space(space.edge_ops, motifs=(("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 1.0),))


def test_load_learned_space_names_the_flag_and_what_to_pass(tmp_path):
    space = LearnedNB201Space(LEARNED)
    good = tmp_path / "learned_space.json"
    good.write_text(space.to_json())
    assert autospace.load_learned_space(str(good)) == space
    with pytest.raises(FileNotFoundError, match="--learned_space=.*nope.json does not exist.*evolve_space wrote"):
        autospace.load_learned_space(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "tfnas.learned_space.nb201/1", "edge_ops": [["conv_9x9"]]}')
    with pytest.raises(ValueError, match="--space_file=.*is not a learned space"):
        autospace.load_learned_space(str(bad), flag="--space_file")


def test_a_finished_evolution_is_reused_only_with_the_same_evolution_config(tmp_path):
    import dataclasses
    import json

    config = autospace.NB201ExperimentConfig(seeds=(), data_dir="/a")
    space = LearnedNB201Space(LEARNED)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "learned_space.json").write_text(json.dumps({**space.to_dict(), "generations": [1],
                                                             "evolve_seconds": 12.5}))
    # What runs after the evolution, and where the data lie, may change.
    later = dataclasses.replace(config, seeds=(0, 1, 2), strategy_evaluations=100, data_dir="/b")
    assert autospace._finished_evolution(later, str(tmp_path)) == (space, [1], 12.5)
    for field, value in (("generations", 9), ("seed", 1), ("fitness", "perturbation"), ("max_train_examples", 50)):
        assert autospace._finished_evolution(dataclasses.replace(config, **{field: value}), str(tmp_path)) is None
    (tmp_path / "learned_space.json").write_text('{"format": "tfnas.learned_space.nb201/1", "edge_ops": [')
    assert autospace._finished_evolution(config, str(tmp_path)) is None  # a cut file: evolve again
    (tmp_path / "learned_space.json").write_text(space.to_json())  # written before the time was kept
    (tmp_path / "report.json").write_text('{"evolve_seconds": 3.0}')
    assert autospace._finished_evolution(config, str(tmp_path)) == (space, [], 3.0)
    assert autospace._finished_evolution(config, str(tmp_path / "empty")) is None


def test_motif_supernet_equals_its_cell_network_and_removes_motifs():
    """With one motif (softmax weight 1) the supernet computes the NB201 network of that cell
    with the same weights; with several, `ops_removed` zeroes exactly the named motif."""
    from tfnas.children.nb201_net import build_nb201_network
    from tfnas.supernets.motifs import MotifSupernet

    cell = autospace.NB201_REFERENCE
    net = MotifSupernet([cell], channels=4, cells_per_stage=1, input_shape=(8, 8, 3), seed=0)
    child = build_nb201_network(cell, channels=4, cells_per_stage=1, input_shape=(8, 8, 3))
    ordered = list(net.stem.weights)
    reductions, positions = iter(net.reductions), iter(net.positions)
    for kind in net._plan:
        ordered += list(next(reductions).weights if kind == "reduce" else next(positions)[0].weights)
    ordered += list(net.head.weights)
    assert [tuple(v.shape) for v in ordered] == [tuple(v.shape) for v in child.weights]
    rng = np.random.default_rng(0)
    for v, w in zip(ordered, child.weights):
        value = rng.normal(size=v.shape).astype("float32")
        if "variance" in v.path:
            value = np.abs(value) + 0.5
        v.assign(value)
        w.assign(value)
    images = rng.random((3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(net(images, training=False)), np.asarray(child(images, training=False)),
                               rtol=1e-4, atol=1e-4)

    cells = [cell, "|nor_conv_1x1~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"]
    two = MotifSupernet(cells, channels=4, cells_per_stage=1, input_shape=(8, 8, 3))
    probs = np.asarray(two.arch_probabilities()[0])
    with two.ops_removed([(0, 1)]):
        inside = np.asarray(two.arch_probabilities()[0])
        assert inside[1] == 0.0 and inside[0] == pytest.approx(probs[0])
        assert np.all(np.isfinite(np.asarray(two(images))))
    np.testing.assert_allclose(np.asarray(two.arch_probabilities()[0]), probs)
    assert two.export([1]) == NB201Genotype.from_string(cells[1])
    with pytest.raises(ValueError, match="decision 0"):
        with two.ops_removed([(1, 0)]):
            pass
    with pytest.raises(ValueError, match="distinct"):
        MotifSupernet([cell, cell], channels=4, cells_per_stage=1, input_shape=(8, 8, 3))


def test_a_motif_with_dead_weights_trains(data_dir):
    """A conv that only feeds a `none` edge is unconnected to the loss: it gets zero gradient
    (TF's own zero-filling fails on Keras variables), so only weight decay moves it."""
    from tfnas.algorithms.mobile_search import load_search_data, run_search
    from tfnas.supernets.motifs import MotifSupernet

    dead = "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|none~2|"  # edge 2<-1 dead
    train_ds, n, shape, classes = load_search_data("cifar10", data_dir=str(data_dir), max_train_examples=32,
                                                   image_size=8)
    net = MotifSupernet([dead, autospace.NB201_REFERENCE], channels=4, cells_per_stage=1, input_shape=shape)
    kernel = next(v for v in net.weight_variables if "pos00_m0_e12" in v.path and "kernel" in v.path)
    live = next(v for v in net.weight_variables if "pos00_m0_e01" in v.path and "kernel" in v.path)
    before, live_before = np.asarray(kernel).copy(), np.asarray(live).copy()
    run_search(make_search_config("darts", "nb201", epochs=1, batch_size=8, channels=4, layers=1), net,
               train_ds=train_ds, num_examples=n)
    def moved(after, start):
        return np.abs(np.asarray(after) - start).max() / np.abs(start).max()

    assert 0 < moved(kernel, before) < 1e-4  # 2 steps of decay lr * 3e-4
    assert moved(live, live_before) > 1e-3


def test_motif_cost_table_prices_each_cell_exactly():
    from tfnas.budgets.losses import motif_cost_table

    edges = nb201_cost_table("madds")
    cells = [NB201Genotype.from_string(autospace.NB201_REFERENCE), NB201Genotype(("nor_conv_3x3",) * 6),
             NB201Genotype(("none",) * 6)]
    table = motif_cost_table(edges, cells)
    for i, cell in enumerate(cells):
        assert table.cost([i]) == pytest.approx(edges.cost([nb201_space.OPS.index(op) for op in cell.ops]))
    with pytest.raises(ValueError, match="per-edge"):
        motif_cost_table(table, cells)


def test_each_generation_prices_its_motifs_with_the_budget(monkeypatch):
    """The budget reaches every generation's search, as the cost table of its K motifs."""
    from tfnas.algorithms import mobile_search
    from tfnas.budgets.losses import motif_cost_table

    seen = []

    def fake_run_search(config, supernet, *, budget=None, **kwargs):
        seen.append((supernet.motifs, budget))
        return {}

    monkeypatch.setattr(mobile_search, "run_search", fake_run_search)
    edges = nb201_cost_table("madds")
    budget = BudgetLoss(edges, "hinge", target=60e6, weight=2.0)
    search = make_search_config("darts", "nb201", epochs=1, batch_size=8, channels=4, layers=1)
    space, records = autospace.evolve_nb201(
        search, AutoSpaceConfig(generations=2, sample_size=2, keep=2), train_ds=None, num_examples=16,
        input_shape=(8, 8, 3), num_classes=10, budget=budget, population_size=4)
    assert len(seen) == 2
    for cells, used in seen:
        assert used.table == motif_cost_table(edges, cells)
        assert (used.form, used.target, used.weight) == ("hinge", 60e6, 2.0)
    with pytest.raises(ValueError, match="softmax mixing"):
        autospace.evolve_nb201(make_search_config("gdas", "nb201", epochs=1), AutoSpaceConfig(), train_ds=None,
                               num_examples=16, input_shape=(8, 8, 3), num_classes=10)


@pytest.mark.slow
def test_tiny_real_evolution_and_search_in_the_learned_space(data_dir):
    from tfnas.algorithms.mobile_search import load_search_data

    train_ds, n, shape, classes = load_search_data("cifar10", data_dir=str(data_dir), max_train_examples=128,
                                                   image_size=8)
    search = make_search_config("darts", "nb201", epochs=1, batch_size=32, channels=4, layers=1)
    table = nb201_cost_table("madds")
    budget = BudgetLoss(table, "hinge", target=60e6)
    space, records = autospace.evolve_nb201(
        search, AutoSpaceConfig(generations=2, sample_size=2, keep=2), train_ds=train_ds, num_examples=n,
        input_shape=shape, num_classes=classes, budget=budget, population_size=4, fitness="perturbation",
        fitness_examples=48)
    assert len(records) == 2 and space.size <= 64 and len(space.motifs) == 2
    for fitness in records[-1]["fitness"]:  # Shares of the loss rise: K in all, or uniform.
        assert min(fitness) >= 0.0 and sum(fitness) == pytest.approx(len(fitness))
    with pytest.raises(ValueError, match="fitness must be one of"):
        autospace.evolve_nb201(search, AutoSpaceConfig(), train_ds=train_ds, num_examples=n, input_shape=shape,
                               num_classes=classes, fitness="loss")
    report = autospace.search_nb201(
        make_search_config("gdas", "nb201", epochs=1, batch_size=32, channels=4, layers=1), space,
        train_ds=train_ds, num_examples=n, input_shape=shape, num_classes=classes, budget=budget,
        hard_budget=60e6)
    cell = NB201Genotype.from_string(report["genotype"])
    space.validate(cell)
    assert report["table_cost"] <= 60e6
    assert report["table_cost"] == table.cost([nb201_space.OPS.index(op) for op in cell.ops])
    assert np.isfinite(report["final"]["expected_cost"])


@pytest.mark.parametrize("mixing", ["softmax", "gumbel"])
def test_ops_removed_zeroes_the_op_keeps_the_others_and_restores(mixing):
    net = build_supernet(SupernetConfig(space="nb201", channels=4, layers=1, input_shape=(8, 8, 3), mixing=mixing))
    probs = net.arch_state()["cell/alpha"]
    key = "weights" if mixing == "softmax" else "hard"
    with net.ops_removed([(2, 0), (5, 3)]):
        for _ in range(1 if mixing == "softmax" else 20):
            inside = np.asarray(net.arch_inputs("cell")[key])
            assert inside[2, 0] == 0.0 and inside[5, 3] == 0.0
        if mixing == "softmax":  # The other weights are not renormalised.
            np.testing.assert_allclose(np.delete(inside[2], 0), np.delete(probs[2], 0), rtol=1e-5)
            np.testing.assert_allclose(inside[0], probs[0], rtol=1e-5)
        budget_probs = [np.asarray(p) for p in net.arch_probabilities()]  # what a budget term prices
        assert budget_probs[2][0] == 0.0 and budget_probs[5][3] == 0.0
        np.testing.assert_allclose(np.delete(budget_probs[2], 0), np.delete(probs[2], 0), rtol=1e-5)
        images = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
        assert np.all(np.isfinite(np.asarray(net(images))))
    after = np.asarray(net.arch_inputs("cell")[key])
    if mixing == "softmax":
        np.testing.assert_allclose(after, probs, rtol=1e-5)
    with pytest.raises(RuntimeError), net.ops_removed([(0, 1)]):
        raise RuntimeError("boom")
    assert net._removed_ops is None
    with pytest.raises(ValueError, match="outside the 6 edges"):
        with net.ops_removed([(6, 0)]):
            pass


class _KnownRiseSupernet:
    """Logits = strength * one-hot image, where removing (edge, op) sets a known strength."""

    def __init__(self, strengths):
        import tensorflow as tf

        self.strengths = strengths  # {(edge, op): strength without it}
        self.strength = tf.Variable(3.0)

    def __call__(self, images, training=None):
        return images * self.strength

    def arch_probabilities(self):
        return []

    def ops_removed(self, removed):
        import contextlib

        @contextlib.contextmanager
        def scope():
            (key,) = removed
            self.strength.assign(self.strengths.get(tuple(key), 3.0))
            try:
                yield
            finally:
                self.strength.assign(3.0)

        return scope()


def test_perturbation_fitness_is_the_share_of_the_loss_rise():
    labels = np.arange(8) % 4
    images = np.eye(4, dtype="float32")[labels]
    batches = [(images[:5], labels[:5]), (images[5:], labels[5:])]

    def ce(strength):  # Cross-entropy of logits strength * one_hot over 4 classes.
        return float(-np.log(np.exp(strength) / (np.exp(strength) + 3.0)))

    # Edge 0: op 1 matters twice as much as op 2, op 4's removal helps (share 0).
    # Edge 1: nothing matters (uniform). Edge 2: a single candidate (1.0).
    net = _KnownRiseSupernet({(0, 1): 1.0, (0, 2): None, (0, 4): 5.0})
    rise1 = ce(1.0) - ce(3.0)
    strength2 = float(np.log(3.0 / (np.exp(ce(3.0) + rise1 / 2.0) - 1.0)))  # Solves ce(s) = ce(3) + rise1 / 2.
    net.strengths[(0, 2)] = strength2
    fitness = autospace.perturbation_fitness(net, batches, [[1, 2, 4], [0, 3], [2]])
    np.testing.assert_allclose(fitness[0], [2.0, 1.0, 0.0], rtol=1e-4)
    assert fitness[1] == [1.0, 1.0] and fitness[2] == [1.0]
    with pytest.raises(ValueError, match="held-out batch"):
        autospace.perturbation_fitness(net, [], [[0, 1]])


def test_reference_is_the_resnet_cell_with_both_convolutions_live(data_dir):
    """The ResNet cell: conv 0->1, conv 1->2, output = node 2 + shortcut from node 0.

    Catches a reference whose convolutions are dead (no path from them to the output), as
    a `none` last edge makes them: that cell is the identity (table 86.34, not 93.91).
    """
    from tfnas.benchmarks import NB201Table

    cell = NB201Genotype.from_string(autospace.NB201_REFERENCE)
    nodes = cell.nodes
    assert nodes[0] == (("nor_conv_3x3", 0),)
    assert ("nor_conv_3x3", 1) in nodes[1] and ("none", 0) in nodes[1]
    assert set(nodes[2]) == {("skip_connect", 0), ("none", 1), ("skip_connect", 2)}
    # Every convolution lies on a path to the output node.
    live = {3}
    for node in (3, 2, 1):
        if node in live:
            live |= {j for op, j in nodes[node - 1] if op != "none"}
    convs = [(node, j) for node in (1, 2, 3) for op, j in nodes[node - 1] if op.startswith("nor_conv")]
    assert convs and all(node in live for node, _ in convs)
    assert NB201Table(data_dir=data_dir).accuracy(cell) == pytest.approx(93.91, abs=0.01)


def test_meco_fitness_is_each_motifs_share_of_the_generations_meco_score_without_training(data_dir):
    from tfnas.ranking.scorers import ProxyConfig, ScoringContext, make_scorer

    search = make_search_config("darts", "nb201", epochs=1, batch_size=32, channels=4, layers=1)
    proxy = ProxyConfig(channels=4, layers=1, image_size=8)  # tiny; the default is the ranking benchmark's
    # No training data at all: the MeCo fitness trains no supernet.
    space, records = autospace.evolve_nb201(
        search, AutoSpaceConfig(generations=2, sample_size=2, keep=2), train_ds=None, num_examples=0,
        input_shape=(32, 32, 3), num_classes=10, population_size=4, fitness="meco", data_dir=str(data_dir),
        meco_proxy=proxy)
    assert len(records) == 2 and len(space.motifs) == 2
    context = ScoringContext(proxy, data_dir=str(data_dir))
    for record in records:
        cells = [NB201Genotype.from_string(c) if isinstance(c, str) else c for c in record["sampled"][0]]
        meco = np.array([make_scorer("meco").score([c], context)[0] for c in cells])
        np.testing.assert_allclose(record["fitness"][0], len(cells) * meco / meco.sum(), rtol=1e-5)
