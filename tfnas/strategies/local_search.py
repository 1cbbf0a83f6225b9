"""Local search: hill-climbing over one-op neighbours, restarting at local optima.

White, Nolen and Savani, "Exploring the Loss Landscape in Neural Architecture Search" (UAI
2021; arXiv 2005.02960, first titled "Local Search is State of the Art for Neural
Architecture Search Benchmarks"): from a start cell, evaluate every neighbour (one edge's op
changed), move to the best one if it beats the current cell, and stop at a cell no neighbour
beats (a local optimum); then restart from a new cell while the budget lasts. They report
that on NAS-Bench-201 it matches or beats regularized evolution and Bayesian optimisation
when the evaluations are the benchmark's noiseless accuracies, and degrades with noisy ones.

The start can come from a `WarmStart` (a zero-cost scorer's best cells, arXiv 2101.08134):
the climb then begins where a training-free proxy says the good cells are, and the costly
evaluator only settles what the proxy cannot see (on NB201 MeCo prefers a convolution on
every edge, and the table's best cells differ from that in one edge, a skip from the cell's
input to its output).
"""

from __future__ import annotations

import numpy as np

from tfnas.strategies.base import STRATEGIES, SearchTrace, Strategy, one_op_neighbours, random_cell, space_size


@STRATEGIES.register("local")
class LocalSearch(Strategy):
    """Best-improvement local search with restarts (arXiv 2005.02960).

    Each climb starts from the next start cell not yet evaluated (the warm start's ranking,
    best first, then random cells), evaluates all its neighbours in a seeded random order,
    and moves to the best-scored one while that beats the current cell. With
    `first_improvement`, it moves to the first neighbour that beats the current cell instead
    (cheaper per step on a costly evaluator). The returned cell is the best scored over the
    run. A cell already evaluated keeps its score and costs nothing again.

    References:
        - White, Nolen & Savani, arXiv 2005.02960.
        - Abdelfattah et al., arXiv 2101.08134 (zero-cost warm start).

    Args:
        first_improvement: Move at the first better neighbour (default: the best one, as the paper).
    """

    name = "local"
    supports_warm_start = True

    def __init__(self, first_improvement: bool = False) -> None:
        self.first_improvement = bool(first_improvement)

    def run(self, trace: SearchTrace, rng: np.random.Generator) -> None:
        starts = list(self.warm_start.ranked(trace, rng)) if self.warm_start is not None else []
        size = space_size(trace.edge_ops)
        while len(trace.trials) < size:
            while starts and trace.seen(starts[0]):
                starts.pop(0)
            if starts:
                current = starts.pop(0)
            else:
                current = random_cell(rng, trace.edge_ops)
                if trace.seen(current):
                    continue
            score = trace.evaluate(current)
            while True:
                candidates = one_op_neighbours(current, trace.edge_ops)
                order = rng.permutation(len(candidates))
                best, best_score = None, score
                for i in order:
                    value = trace.evaluate(candidates[i])
                    if value > best_score:
                        best, best_score = candidates[i], value
                        if self.first_improvement:
                            break
                if best is None:
                    break  # A local optimum: restart.
                current, score = best, best_score
