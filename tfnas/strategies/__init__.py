"""Multi-trial search strategies over NAS-Bench-201 cells and the evaluators they score with.

`STRATEGIES` maps names to strategy classes: `random` (random search), `evolution`
(regularized evolution, arXiv 1802.01548), `pnas` (progressive search with a surrogate,
arXiv 1712.00559), `local` (local search, arXiv 2005.02960); `WarmStart` starts evolution or
local search from a zero-cost scorer's best cells (arXiv 2101.08134).
Evaluators: `TableEvaluator` (benchmark mode), `TrainEvaluator` (real mode),
`SupernetEvaluator` (one-shot mode), `ScorerEvaluator` (zero-cost mode).
`tfnas.strategies.compare` runs several strategies under one budget over seeds.
"""

from tfnas.strategies.base import (
    STRATEGIES,
    Budget,
    BudgetExhausted,
    Evaluator,
    SearchTrace,
    Strategy,
    Trial,
    WarmStart,
    make_strategy,
    mutate,
    one_op_neighbours,
    random_cell,
)
from tfnas.strategies.evaluators import (
    ProxyConfig,
    ScorerEvaluator,
    SupernetEvaluator,
    TableEvaluator,
    TrainEvaluator,
)

# Registration: one import per strategy module.
from tfnas.strategies import random_search  # noqa: F401,E402
from tfnas.strategies import evolution  # noqa: F401,E402
from tfnas.strategies import pnas  # noqa: F401,E402
from tfnas.strategies import local_search  # noqa: F401,E402

__all__ = [
    "STRATEGIES", "Budget", "BudgetExhausted", "Evaluator", "ProxyConfig", "ScorerEvaluator", "SearchTrace", "Strategy",
    "SupernetEvaluator", "TableEvaluator", "TrainEvaluator", "Trial", "WarmStart", "make_strategy", "mutate",
    "one_op_neighbours", "random_cell",
]
