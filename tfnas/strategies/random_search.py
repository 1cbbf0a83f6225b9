"""Random search: distinct cells drawn uniformly, the best-scored one returned.

The baseline every search is held to at equal cost (Li & Talwalkar, Random Search and
Reproducibility for NAS, arXiv 1902.07638; NAS-Bench-201's random search, arXiv 2001.00326:
93.70 +- 0.36 on CIFAR-10 at its 12-epoch-validation budget).
"""

from __future__ import annotations

import numpy as np

from tfnas.strategies.base import STRATEGIES, SearchTrace, Strategy, random_cell, space_size


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    """Evaluates uniformly drawn, not yet evaluated cells until the budget ends.

    References:
        - Li & Talwalkar, arXiv 1902.07638.
        - Dong & Yang, NAS-Bench-201, arXiv 2001.00326 (its random-search baseline).

    Example:
    >>> from tfnas.strategies import Budget
    >>> from tfnas.strategies import Budget, TableEvaluator
    >>> trace = RandomSearch().search(TableEvaluator(), Budget(evaluations=5), seed=0)  # doctest: +SKIP
    >>> len(trace.trials)  # doctest: +SKIP
    5
    """

    name = "random"

    def run(self, trace: SearchTrace, rng: np.random.Generator) -> None:
        while len(trace.trials) < space_size(trace.edge_ops):
            cell = random_cell(rng, trace.edge_ops)
            if not trace.seen(cell):
                trace.evaluate(cell)
