"""Regularized evolution (aging evolution): tournament selection, one-op mutation, the oldest dies.

Real et al., Regularized Evolution for Image Classifier Architecture Search, arXiv 1802.01548
(Algorithm 1). On NAS-Bench-201 (arXiv 2001.00326) it reached 93.92 +- 0.30 on CIFAR-10; the
benchmark's reference script runs it with a population of 10 and a tournament of 3, the
defaults here.
"""

from __future__ import annotations

import collections

import numpy as np

from tfnas.strategies.base import STRATEGIES, SearchTrace, Strategy, mutate, random_cell


#: Consecutive already-evaluated children after which the run stops (only reachable when the
#: budget exceeds what the population can still discover).
_MAX_REPEATS = 10_000


@STRATEGIES.register("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution over NAS-Bench-201 cells.

    The population starts with `population_size` random cells (with a `WarmStart`: the
    warm start's best-scored cells, as the zero-cost warm-up of arXiv 2101.08134). Each cycle draws
    `sample_size` members uniformly (with replacement, as Algorithm 1), mutates the
    best-scored one (one edge changed to a different op), evaluates the child, appends it
    and removes the oldest member. The returned cell is the best scored over the whole run.
    A child already evaluated keeps its recorded score (no second evaluation is paid) but
    still joins the population, as in the paper's algorithm.

    References:
        - Real et al., arXiv 1802.01548.
        - Abdelfattah et al., arXiv 2101.08134 (zero-cost warm-up of the population).

    Args:
        population_size: P (NB201 reference script: 10).
        sample_size: Tournament size S (NB201 reference script: 3).

    Raises:
        ValueError: if `sample_size` is not in [1, population_size].
    """

    name = "evolution"
    supports_warm_start = True

    def __init__(self, population_size: int = 10, sample_size: int = 3) -> None:
        if population_size < 1 or not 1 <= sample_size <= population_size:
            raise ValueError(
                "Need 1 <= sample_size <= population_size. "
                f"Received: population_size={population_size}, sample_size={sample_size}"
            )
        self.population_size = population_size
        self.sample_size = sample_size

    def run(self, trace: SearchTrace, rng: np.random.Generator) -> None:
        population: collections.deque = collections.deque()
        if self.warm_start is not None:  # arXiv 2101.08134: the population is the warm start's top P.
            for cell in self.warm_start.ranked(trace, rng)[:self.population_size]:
                population.append((cell, trace.evaluate(cell)))
        while len(population) < self.population_size:
            cell = random_cell(rng, trace.edge_ops)
            population.append((cell, trace.evaluate(cell)))
        repeats = 0  # Children already evaluated in a row: a space explored around the population.
        while repeats < _MAX_REPEATS:
            picks = rng.integers(len(population), size=self.sample_size)
            parent = max((population[i] for i in picks), key=lambda member: member[1])[0]
            child = mutate(parent, rng, trace.edge_ops)
            repeats = repeats + 1 if trace.seen(child) else 0
            population.append((child, trace.evaluate(child)))
            population.popleft()
