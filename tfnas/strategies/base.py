"""Multi-trial search strategies: the evaluator and budget protocol, the trial record, the registry.

A multi-trial strategy (random search, regularized evolution, PNAS) proposes NAS-Bench-201
cells one at a time and asks an *evaluator* for each cell's score: the table (benchmark mode),
short standalone training (real mode) or a trained supernet (one-shot mode); see
`tfnas.strategies.evaluators`. The strategy never sees how the score is made, so every
strategy runs under every evaluator. A `Budget` bounds a run by evaluations or by cost
seconds; the strategy stops when the next evaluation would start past it.

The result of a run is its `SearchTrace`: every trial in order (cell, score, cumulative cost)
and the cell the strategy returns (the best-scored one: the strategy sees scores, never the
benchmark's test accuracy unless the evaluator reads that column).

Cost is measured in seconds of this machine (wall clock of the 2-core machine the issue's
budget is set on), as the evaluator reports it: measured for training and supernet
evaluators, `seconds_per_evaluation` (a declared simulated figure, default 0) for the table.

Adding a strategy is its own file with `@STRATEGIES.register("name")` on a `Strategy`
subclass and one import line in `tfnas/strategies/__init__.py`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.registry import Registry
from tfnas.spaces import nb201 as nb201_space


class Evaluator(Protocol):
    """Scores a cell; higher is better. `cost` is the seconds the evaluation took (or declares)."""

    name: str

    def evaluate(self, cell: NB201Genotype) -> tuple[float, float]:
        """Returns `(score, cost_seconds)` for one cell."""


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much a strategy may spend: evaluations, cost seconds, or both (whichever ends first).

    Args:
        evaluations: Maximum number of evaluated cells (None: unbounded).
        seconds: Maximum summed evaluation cost in seconds (None: unbounded).

    Raises:
        ValueError: if both are None or either is not positive.
    """

    evaluations: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.evaluations is None and self.seconds is None:
            raise ValueError("A budget needs evaluations= or seconds= (or both).")
        if self.evaluations is not None and (not isinstance(self.evaluations, int) or self.evaluations <= 0):
            raise ValueError(f"evaluations must be a positive integer. Received: evaluations={self.evaluations!r}")
        if self.seconds is not None and not self.seconds > 0:
            raise ValueError(f"seconds must be > 0. Received: seconds={self.seconds!r}")

    def exhausted(self, evaluations: int, seconds: float) -> bool:
        """True when no further evaluation may start."""
        if self.evaluations is not None and evaluations >= self.evaluations:
            return True
        return self.seconds is not None and seconds >= self.seconds


@dataclasses.dataclass(frozen=True)
class Trial:
    """One evaluation: the cell, its score, and the run's cumulative cost after it."""

    cell: str
    score: float
    cost_seconds: float
    wall_seconds: float


class BudgetExhausted(Exception):
    """Raised by `SearchTrace.evaluate` when the budget is spent; strategies let it end the run."""


class SearchTrace:
    """Runs evaluations under a budget and records them; the strategies' only way to score a cell.

    Args:
        evaluator: The evaluator.
        budget: The run's budget.
        cache: Re-evaluating a cell already scored returns the recorded score at no cost and
            does not count (the NB201 baselines of arXiv 2001.00326 query each cell once).
        edge_ops: The space searched: per edge (`tfnas.spaces.nb201.EDGES` order) its allowed
            ops, e.g. a learned AutoSpace sub-space's; None is the full space. A cell outside
            it is refused, so a strategy cannot leave the space it was given.
    """

    def __init__(self, evaluator: Evaluator, budget: Budget, *, cache: bool = True,
                 edge_ops: Sequence[Sequence[str]] | None = None) -> None:
        self.evaluator = evaluator
        self.budget = budget
        self.cache = cache
        self.edge_ops = space_edge_ops(edge_ops)
        self.trials: list[Trial] = []
        self._scores: dict[str, float] = {}
        self._cost = 0.0
        self.prescreened = 0
        self._evaluator_wall = 0.0
        self._start = time.perf_counter()

    @property
    def cost_seconds(self) -> float:
        return self._cost

    def overhead_seconds(self) -> float:
        """Wall seconds the strategy itself spent so far (surrogates, bookkeeping), outside evaluations."""
        return max(0.0, time.perf_counter() - self._start - self._evaluator_wall)

    def total_cost_seconds(self) -> float:
        """The run's cost: the evaluations' (measured or declared) cost plus the strategy's overhead."""
        return self._cost + self.overhead_seconds()

    def exhausted(self) -> bool:
        return self.budget.exhausted(len(self.trials), self.total_cost_seconds())

    def seen(self, cell: NB201Genotype) -> bool:
        return cell.to_string() in self._scores

    def evaluate(self, cell: NB201Genotype) -> float:
        """Scores `cell` through the evaluator (or the cache).

        Raises:
            BudgetExhausted: when the budget allows no further evaluation.
            ValueError: for a cell outside the searched space.
        """
        key = cell.to_string()
        if self.cache and key in self._scores:
            return self._scores[key]
        for edge, (op, allowed) in enumerate(zip(cell.ops, self.edge_ops)):
            if op not in allowed:
                raise ValueError(f"{key} has {op!r} on edge {edge}, outside the searched space ({allowed} there).")
        if self.exhausted():
            raise BudgetExhausted
        started = time.perf_counter()
        score, cost = self.evaluator.evaluate(cell)
        self._evaluator_wall += time.perf_counter() - started
        score = float(score)
        if not np.isfinite(score):
            raise ValueError(f"Evaluator {self.evaluator.name!r} returned a non-finite score {score} for {key}.")
        self._cost += float(cost)
        self._scores[key] = score
        self.trials.append(Trial(key, score, self._cost, time.perf_counter() - self._start))
        return score

    def prescreen(self, evaluator: Evaluator, cell: NB201Genotype) -> float:
        """Scores `cell` with a second, cheap evaluator (a warm start's zero-cost scorer).

        Its cost is added to the run's cost (so a seconds budget and the reported cost
        include it) but it is not a trial: it does not count against an evaluations budget,
        is not returned by `best`, and the cell can still be evaluated for real.
        """
        started = time.perf_counter()
        score, cost = evaluator.evaluate(cell)
        self._evaluator_wall += time.perf_counter() - started
        score = float(score)
        if not np.isfinite(score):
            raise ValueError(f"Evaluator {evaluator.name!r} returned a non-finite score {score} for {cell.to_string()}.")
        self._cost += float(cost)
        self.prescreened += 1
        return score

    def best(self) -> Trial:
        """The best-scored trial (the earliest among ties)."""
        if not self.trials:
            raise ValueError("No cell was evaluated: the budget allowed no evaluation.")
        return max(self.trials, key=lambda t: (t.score, -t.cost_seconds))

    def incumbents(self) -> list[Trial]:
        """The best-so-far trial after each evaluation (the accuracy-against-cost curve)."""
        best: list[Trial] = []
        for trial in self.trials:
            best.append(trial if not best or trial.score > best[-1].score else best[-1])
        return best


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """Zero-cost warm-up: where a strategy starts, chosen by a cheap scorer.

    `cells` distinct random cells of the space are scored with `evaluator` (e.g. a
    training-free scorer's `ScorerEvaluator`) through `SearchTrace.prescreen`, so their cost
    is charged to the run, and handed to the strategy best first. Abdelfattah et al.
    (Zero-Cost Proxies for Lightweight NAS, arXiv 2101.08134, Sec. 5) warm up aging evolution
    this way: its initial population is the top of 3,000 random cells by synflow.

    With `climb`, the cheap score is also hill-climbed from the best random cell
    (best-improvement over one-op neighbours, arXiv 2005.02960, every neighbour prescreened and
    charged) up to a local optimum of the score, which then leads the ranking: the costly
    search starts at the cheap score's own optimum, not at the best of a random sample.

    Args:
        evaluator: The cheap evaluator.
        cells: How many random cells it scores.
        climb: Hill-climb the cheap score from the best of them.

    Raises:
        ValueError: if `cells` < 1.
    """

    evaluator: Evaluator
    cells: int = 100
    climb: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.cells, int) or self.cells < 1:
            raise ValueError(f"A warm start scores at least one cell. Received: cells={self.cells!r}")

    def ranked(self, trace: SearchTrace, rng: np.random.Generator) -> list[NB201Genotype]:
        """`cells` distinct random cells (fewer in a smaller space), plus with `climb` the cells
        of the climb, best-scored first."""
        wanted = min(self.cells, space_size(trace.edge_ops))
        drawn: dict[str, NB201Genotype] = {}
        while len(drawn) < wanted:
            cell = random_cell(rng, trace.edge_ops)
            drawn.setdefault(cell.to_string(), cell)
        scores = {key: trace.prescreen(self.evaluator, cell) for key, cell in drawn.items()}
        if self.climb:
            current = max(drawn, key=lambda key: scores[key])
            while True:
                step = None
                for cell in one_op_neighbours(drawn[current], trace.edge_ops):
                    key = cell.to_string()
                    if key not in scores:
                        drawn[key], scores[key] = cell, trace.prescreen(self.evaluator, cell)
                    if scores[key] > scores[step or current]:
                        step = key
                if step is None:
                    break  # The cheap score's local optimum.
                current = step
        order = sorted(enumerate(drawn), key=lambda item: (-scores[item[1]], item[0]))
        return [drawn[key] for _, key in order]

    def describe(self) -> dict[str, Any]:
        return {"evaluator": self.evaluator.name, "cells": self.cells, "climb": self.climb}


class Strategy:
    """A multi-trial search strategy over the NAS-Bench-201 cells.

    Subclasses implement `run(trace, rng)`: propose cells and call `trace.evaluate(cell)`
    until it raises `BudgetExhausted` (or the strategy has nothing left to propose).
    Constructor arguments are the strategy's hyper-parameters with the paper's defaults.
    Strategies that can start from a `WarmStart` set `supports_warm_start` and read
    `self.warm_start` (None: no warm start).
    """

    name: str = "strategy"
    supports_warm_start: bool = False
    warm_start: WarmStart | None = None

    def run(self, trace: SearchTrace, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def with_warm_start(self, warm_start: WarmStart | None) -> Strategy:
        """Sets the warm start; returns the strategy.

        Raises:
            ValueError: for a strategy that cannot use one.
        """
        if warm_start is not None and not self.supports_warm_start:
            supported = sorted(n for n in STRATEGIES.names() if STRATEGIES.get(n).supports_warm_start)
            raise ValueError(f"The {self.name!r} strategy takes no warm start; these do: {', '.join(supported)}.")
        self.warm_start = warm_start
        return self

    def config(self) -> dict[str, Any]:
        """The hyper-parameters, JSON-able (printed beside every result)."""
        config = dict(vars(self))
        if self.warm_start is not None:
            config["warm_start"] = self.warm_start.describe()
        return config

    def search(self, evaluator: Evaluator, budget: Budget, seed: int,
               edge_ops: Sequence[Sequence[str]] | None = None) -> SearchTrace:
        """Runs the strategy from `seed` under `budget` in `edge_ops` (None: the full space)."""
        trace = SearchTrace(evaluator, budget, edge_ops=edge_ops)
        try:
            self.run(trace, np.random.default_rng(seed))
        except BudgetExhausted:
            pass
        return trace


STRATEGIES: Registry[type[Strategy]] = Registry("search strategy")


def space_edge_ops(edge_ops: Sequence[Sequence[str]] | None = None) -> tuple[tuple[str, ...], ...]:
    """Per edge, the allowed ops in `nb201_space.OPS` order (None: all of them).

    Raises:
        ValueError: for a wrong edge count, an empty edge or an unknown op.
    """
    if edge_ops is None:
        return (tuple(nb201_space.OPS),) * len(nb201_space.EDGES)
    return nb201_space.canonical_edge_ops(list(edge_ops))


def space_size(edge_ops: Sequence[Sequence[str]] | None = None) -> int:
    """Number of cells in the space."""
    return int(np.prod([len(ops) for ops in space_edge_ops(edge_ops)]))


def random_cell(rng: np.random.Generator, edge_ops: Sequence[Sequence[str]] | None = None) -> NB201Genotype:
    """A cell drawn uniformly from the space (default: the 15,625 NAS-Bench-201 cells)."""
    rows = space_edge_ops(edge_ops)
    sizes = {len(ops) for ops in rows}
    if len(sizes) == 1:  # One draw for all edges: the full space's stream is unchanged.
        picks = rng.integers(sizes.pop(), size=len(rows))
    else:
        picks = [int(rng.integers(len(ops))) for ops in rows]
    return NB201Genotype(tuple(ops[i] for ops, i in zip(rows, picks)))


def mutate(cell: NB201Genotype, rng: np.random.Generator,
           edge_ops: Sequence[Sequence[str]] | None = None) -> NB201Genotype:
    """One edge's op changed to a different op of the space (the mutation of arXiv 1802.01548 on
    NB201); edges with a single allowed op are never picked. A one-cell space returns the cell."""
    rows = space_edge_ops(edge_ops)
    ops = list(cell.ops)
    edges = [e for e, allowed in enumerate(rows) if len(allowed) > 1]
    if not edges:
        return cell
    edge = edges[int(rng.integers(len(edges)))]
    choices = [op for op in rows[edge] if op != ops[edge]]
    ops[edge] = choices[int(rng.integers(len(choices)))]
    return NB201Genotype(tuple(ops))


def one_op_neighbours(cell: NB201Genotype, edge_ops: Sequence[Sequence[str]] | None = None) -> list[NB201Genotype]:
    """Every cell one op away from `cell` inside the space (edge by edge, ops in space order)."""
    found = []
    for edge, allowed in enumerate(space_edge_ops(edge_ops)):
        for op in allowed:
            if op != cell.ops[edge]:
                ops = list(cell.ops)
                ops[edge] = op
                found.append(NB201Genotype(tuple(ops)))
    return found


def make_strategy(name: str, **kwargs: Any) -> Strategy:
    """Builds the registered strategy `name` with hyper-parameter overrides.

    Raises:
        KeyError: for an unknown name (listing the known ones).
        TypeError: for an unknown hyper-parameter.
    """
    return STRATEGIES.get(name)(**kwargs)


def strategy_names() -> Sequence[str]:
    return STRATEGIES.names()
