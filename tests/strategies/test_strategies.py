"""Tests of the multi-trial strategies (random, evolution, PNAS), their budget and trace."""

from __future__ import annotations

import numpy as np
import pytest

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import nb201 as nb201_space
from tfnas.strategies import (
    STRATEGIES, Budget, SearchTrace, WarmStart, make_strategy, mutate, one_op_neighbours, random_cell,
)
from tfnas.strategies import pnas as pnas_lib

#: Per-edge values of a synthetic additive score: the optimum is conv3x3 on every edge.
_VALUES = {"none": 0.0, "skip_connect": 1.0, "nor_conv_1x1": 2.0, "nor_conv_3x3": 4.0, "avg_pool_3x3": 0.5}
_WEIGHTS = np.array([3.0, 1.0, 2.0, 0.5, 1.5, 2.5])


class Additive:
    """A synthetic evaluator: a weighted sum of per-edge op values; records every call."""

    name = "additive"

    def __init__(self, cost: float = 1.0) -> None:
        self.calls: list[NB201Genotype] = []
        self.cost = cost

    def evaluate(self, cell):
        self.calls.append(cell)
        return float(sum(w * _VALUES[op] for w, op in zip(_WEIGHTS, cell.ops))), self.cost


OPTIMUM = NB201Genotype(("nor_conv_3x3",) * 6)


def test_registry_holds_the_strategies():
    assert {"random", "evolution", "pnas", "local"} <= set(STRATEGIES.names())
    with pytest.raises(KeyError, match="Unknown search strategy 'nope'"):
        make_strategy("nope")


def test_budget_validation_and_exhaustion():
    with pytest.raises(ValueError, match="evaluations= or seconds="):
        Budget()
    with pytest.raises(ValueError, match="positive integer"):
        Budget(evaluations=0)
    with pytest.raises(ValueError, match="seconds must be > 0"):
        Budget(seconds=-1.0)
    assert Budget(evaluations=3).exhausted(3, 0.0) and not Budget(evaluations=3).exhausted(2, 1e9)
    assert Budget(seconds=10.0).exhausted(1, 10.0) and not Budget(seconds=10.0).exhausted(100, 9.0)


def test_trace_caches_scores_and_stops_at_the_budget():
    evaluator = Additive()
    trace = SearchTrace(evaluator, Budget(evaluations=2))
    a, b = random_cell(np.random.default_rng(0)), OPTIMUM
    first = trace.evaluate(a)
    assert trace.evaluate(a) == first and len(evaluator.calls) == 1  # cached: not paid twice
    trace.evaluate(b)
    from tfnas.strategies import BudgetExhausted

    with pytest.raises(BudgetExhausted):
        trace.evaluate(NB201Genotype(("none",) * 6))
    # With the op counts the surrogate carries what it learnt to the next edge: the optimum.
    assert trace.best().cell == OPTIMUM.to_string() and trace.cost_seconds == 2.0
    assert [t.cell for t in trace.incumbents()] == [a.to_string(), b.to_string()]


def test_seconds_budget_counts_declared_cost():
    trace = make_strategy("random").search(Additive(cost=10.0), Budget(seconds=35.0), seed=0)
    assert len(trace.trials) == 4  # 0, 10, 20, 30 s spent before each start; 40 s stops it


def test_mutate_changes_exactly_one_edge():
    rng = np.random.default_rng(1)
    for _ in range(200):
        cell = random_cell(rng)
        child = mutate(cell, rng)
        assert sum(a != b for a, b in zip(cell.ops, child.ops)) == 1


@pytest.mark.parametrize("name", ["random", "evolution", "pnas", "local"])
def test_strategies_are_reproducible_from_their_seed_and_respect_the_budget(name):
    runs = [make_strategy(name).search(Additive(), Budget(evaluations=30), seed=7) for _ in range(2)]
    assert [t.cell for t in runs[0].trials] == [t.cell for t in runs[1].trials]
    assert 0 < len(runs[0].trials) <= 30
    assert len({t.cell for t in runs[0].trials}) == len(runs[0].trials)  # never paid twice


def test_random_search_draws_distinct_uniform_cells():
    trace = make_strategy("random").search(Additive(), Budget(evaluations=300), seed=0)
    ops = np.array([NB201Genotype.from_string(t.cell).ops for t in trace.trials])
    share = np.mean(ops == "nor_conv_3x3")
    assert len({t.cell for t in trace.trials}) == 300 and 0.15 < share < 0.25


def test_evolution_children_are_one_mutation_from_an_earlier_cell():
    evaluator = Additive()
    strategy = make_strategy("evolution", population_size=10, sample_size=3)
    trace = strategy.search(evaluator, Budget(evaluations=60), seed=0)
    cells = [NB201Genotype.from_string(t.cell).ops for t in trace.trials]
    for k in range(10, len(cells)):
        assert any(sum(a != b for a, b in zip(cells[k], earlier)) == 1 for earlier in cells[:k])
    with pytest.raises(ValueError, match="sample_size <= population_size"):
        make_strategy("evolution", population_size=3, sample_size=4)


def test_evolution_and_pnas_beat_random_on_an_additive_score():
    def mean_best(name):
        return np.mean([make_strategy(name).search(Additive(), Budget(evaluations=60), seed=s).best().score
                        for s in range(5)])

    best = Additive().evaluate(OPTIMUM)[0]
    assert mean_best("evolution") > mean_best("random")
    assert mean_best("pnas") > mean_best("random")
    assert mean_best("pnas") >= 0.95 * best


def test_pnas_grows_cells_edge_by_edge_with_the_default_op():
    evaluator = Additive()
    trace = make_strategy("pnas", beam_size=3, default_op="skip_connect", op_counts=True).search(
        evaluator, Budget(evaluations=100), seed=0)
    cells = [NB201Genotype.from_string(t.cell).ops for t in trace.trials]
    # Size 1: the five ops on edge 0, every other edge the default op.
    assert [c[0] for c in cells[:5]] == list(nb201_space.OPS)
    assert all(c[1:] == ("skip_connect",) * 5 for c in cells[:5])
    # Then at most K = 3 new cells per size, 5 sizes: at most 5 + 5 * 3 evaluations.
    assert len(cells) <= 5 + 5 * 3
    # With the op counts the surrogate carries what it learnt to the next edge: the optimum.
    assert trace.best().cell == OPTIMUM.to_string()


def test_pnas_beam_from_the_budget_and_argument_checks():
    strategy = make_strategy("pnas")
    assert strategy._beam(SearchTrace(Additive(), Budget(evaluations=105))) == 20
    with pytest.raises(ValueError, match="surrogate must be one of"):
        make_strategy("pnas", surrogate="gp")
    with pytest.raises(ValueError, match="default_op must be one of"):
        make_strategy("pnas", default_op="conv")


def test_pnas_encoding_marks_unassigned_edges():
    assert pnas_lib.encode([("nor_conv_3x3",)]).shape == (1, 36)
    x = pnas_lib.encode([("nor_conv_3x3",), tuple(nb201_space.OPS[:1]) * 6], op_counts=True)
    assert x.shape == (2, 41)
    rows = x[:, :36].reshape(2, 6, 6)
    assert rows[0, 0, nb201_space.OPS.index("nor_conv_3x3")] == 1 and all(rows[0, 1:, 5] == 1)
    assert rows[1, :, 0].sum() == 6 and rows.sum() == 12
    assert list(x[0, 36:]) == [0, 0, 0, 1, 0] and list(x[1, 36:]) == [6, 0, 0, 0, 0]


def test_lstm_surrogate_fits_an_ordering():
    partials = [(op,) for op in nb201_space.OPS]
    scores = np.array([_VALUES[op] for op in nb201_space.OPS])
    model = pnas_lib.LSTMEnsemble(members=2, hidden=8, epochs=150, seed=0).fit(pnas_lib.encode(partials), scores)
    predicted = model.predict(pnas_lib.encode(partials))
    assert np.argmax(predicted) == np.argmax(scores) and np.argmin(predicted) == np.argmin(scores)


#: A restricted space (a learned AutoSpace sub-space): 2 x 1 x 3 x 1 x 2 x 2 = 24 cells.
_RESTRICTED = (("skip_connect", "nor_conv_3x3"), ("none",), ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"),
               ("skip_connect",), ("none", "nor_conv_3x3"), ("nor_conv_1x1", "nor_conv_3x3"))


def test_full_space_draws_are_the_unrestricted_stream():
    """`edge_ops=None` keeps the draws every recorded full-space result was made with."""
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(20):
        old = NB201Genotype(tuple(nb201_space.OPS[i] for i in rng_a.integers(5, size=6)))
        assert random_cell(rng_b) == old
        edge = int(rng_a.integers(6))
        choices = [op for op in nb201_space.OPS if op != old.ops[edge]]
        expected = list(old.ops)
        expected[edge] = choices[int(rng_a.integers(4))]
        assert mutate(old, rng_b) == NB201Genotype(tuple(expected))


@pytest.mark.parametrize("name", ["random", "evolution", "pnas", "local"])
def test_strategies_stay_inside_a_restricted_space(name):
    evaluator = Additive()
    make_strategy(name).search(evaluator, Budget(evaluations=20), seed=0, edge_ops=_RESTRICTED)
    assert evaluator.calls
    for cell in evaluator.calls:
        assert all(op in allowed for op, allowed in zip(cell.ops, _RESTRICTED)), cell.to_string()
    best = NB201Genotype(("nor_conv_3x3", "none", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3"))
    if name == "random":  # all 24 cells fit the budget of 20 only partly; 30 draws them all
        full = make_strategy(name).search(Additive(), Budget(evaluations=30), seed=0, edge_ops=_RESTRICTED)
        assert len(full.trials) == 24 and full.best().cell == best.to_string()


def test_restricted_draws_and_mutations_and_the_trace_refuses_outside_cells():
    rng = np.random.default_rng(0)
    for _ in range(100):
        cell = random_cell(rng, _RESTRICTED)
        assert all(op in allowed for op, allowed in zip(cell.ops, _RESTRICTED))
        child = mutate(cell, rng, _RESTRICTED)
        changed = [e for e, (a, b) in enumerate(zip(cell.ops, child.ops)) if a != b]
        assert len(changed) == 1 and changed[0] not in (1, 3)  # single-op edges never mutate
        assert child.ops[changed[0]] in _RESTRICTED[changed[0]]
    trace = SearchTrace(Additive(), Budget(evaluations=5), edge_ops=_RESTRICTED)
    with pytest.raises(ValueError, match="edge 1"):
        trace.evaluate(OPTIMUM)
    with pytest.raises(ValueError, match="edge_ops needs 6"):
        SearchTrace(Additive(), Budget(evaluations=5), edge_ops=_RESTRICTED[:2])
    assert pnas_lib.complete(("nor_conv_3x3",), "skip_connect", _RESTRICTED).ops == (
        "nor_conv_3x3", "none", "nor_conv_1x1", "skip_connect", "none", "nor_conv_1x1")


def _distance(a, b) -> int:
    return sum(x != y for x, y in zip(a, b))


def test_local_search_climbs_to_the_optimum_through_full_neighbourhoods():
    evaluator = Additive()
    trace = make_strategy("local").search(evaluator, Budget(evaluations=300), seed=0)
    cells = [NB201Genotype.from_string(t.cell).ops for t in trace.trials]
    assert trace.best().cell == OPTIMUM.to_string()  # an additive score has no other local optimum
    # The first climb: the start, then blocks of 24 neighbours of the current cell.
    assert len(neighbours := one_op_neighbours(NB201Genotype(cells[0]))) == 24
    assert {NB201Genotype(c) for c in cells[1:25]} == set(neighbours)
    current = max(cells[:25], key=lambda c: evaluator.evaluate(NB201Genotype(c))[0])
    assert all(_distance(current, c) == 1 for c in cells[25:25 + 10])  # the next block is around the best


def test_local_search_first_improvement_moves_at_the_first_better_neighbour():
    evaluator = Additive()
    trace = make_strategy("local", first_improvement=True).search(evaluator, Budget(evaluations=40), seed=1)
    scores = [t.score for t in trace.trials]
    start = scores[0]
    first_better = next(i for i, s in enumerate(scores[1:], start=1) if s > start)
    # Right after the first better neighbour, the climb evaluates that cell's neighbours.
    moved_to = NB201Genotype.from_string(trace.trials[first_better].cell).ops
    nxt = NB201Genotype.from_string(trace.trials[first_better + 1].cell).ops
    assert _distance(moved_to, nxt) == 1


class _Counting(Additive):
    name = "counting"


def test_warm_start_ranks_cells_by_the_cheap_evaluator_and_charges_its_cost():
    cheap, costly = _Counting(cost=0.5), Additive(cost=10.0)
    warm = WarmStart(cheap, cells=30)
    trace = make_strategy("local").with_warm_start(warm).search(costly, Budget(evaluations=1), seed=0)
    assert trace.prescreened == 30 and len(cheap.calls) == 30 and len({c.to_string() for c in cheap.calls}) == 30
    best_cheap = max(cheap.calls, key=lambda c: Additive().evaluate(c)[0])
    assert trace.trials[0].cell == best_cheap.to_string()  # the climb starts at the warm start's best
    assert len(trace.trials) == 1 and trace.cost_seconds == pytest.approx(30 * 0.5 + 10.0)
    assert make_strategy("local").with_warm_start(warm).config()["warm_start"] == {"evaluator": "counting",
                                                                                    "cells": 30, "climb": False}


def test_a_climbing_warm_start_hands_over_the_cheap_scores_optimum_and_charges_every_cell():
    cheap, costly = _Counting(cost=0.5), Additive(cost=10.0)
    warm = WarmStart(cheap, cells=5, climb=True)
    trace = make_strategy("local").with_warm_start(warm).search(costly, Budget(evaluations=1), seed=0)
    assert trace.trials[0].cell == OPTIMUM.to_string()  # the additive score's optimum, not a random cell's best
    distinct = {c.to_string() for c in cheap.calls}
    assert trace.prescreened == len(cheap.calls) == len(distinct) > 5 + 24  # no cell scored twice
    assert trace.cost_seconds == pytest.approx(0.5 * len(distinct) + 10.0)
    # Every step of the climb scored a whole neighbourhood: the optimum's neighbours were all scored.
    assert {c.to_string() for c in one_op_neighbours(OPTIMUM)} <= distinct
    # Without the climb the same five random cells do not contain the optimum.
    plain = make_strategy("local").with_warm_start(WarmStart(_Counting(), cells=5)).search(
        Additive(), Budget(evaluations=1), seed=0)
    assert plain.trials[0].cell != OPTIMUM.to_string()


def test_evolution_with_a_warm_start_starts_from_its_best_cells():
    cheap = _Counting(cost=0.0)
    strategy = make_strategy("evolution", population_size=5, sample_size=2).with_warm_start(WarmStart(cheap, 20))
    trace = strategy.search(Additive(), Budget(evaluations=8), seed=3)
    ranked = sorted(cheap.calls[:20], key=lambda c: -Additive().evaluate(c)[0])
    assert [t.cell for t in trace.trials[:5]] == [c.to_string() for c in ranked[:5]]


def test_warm_start_checks():
    with pytest.raises(ValueError, match="at least one cell"):
        WarmStart(Additive(), cells=0)
    with pytest.raises(ValueError, match="takes no warm start; these do: evolution, local"):
        make_strategy("random").with_warm_start(WarmStart(Additive()))
    # In a 24-cell space the warm start scores all 24 (not more), then local search covers the space.
    trace = make_strategy("local").with_warm_start(WarmStart(Additive(), 100)).search(
        Additive(), Budget(evaluations=100), seed=0, edge_ops=_RESTRICTED)
    assert trace.prescreened == 24 and len(trace.trials) == 24
