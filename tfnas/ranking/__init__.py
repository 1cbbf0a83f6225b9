"""tfnas.ranking: how well a scorer ranks NAS-Bench-201 cells against the table.

`sample_indices` / `sample_cells` (sample.py) draw the fixed, seeded sample of cells;
`SCORERS` / `make_scorer` (scorers.py) hold the scorers, one registered object each
(`params`, `synflow`, `naswot`, `grad_norm`, `zico`, `meco`, the reference `standalone` from
standalone.py, `spos` and `alpha` from one_shot.py: inherited weights of a trained SPOS supernet, a
differentiable search's architecture weights; `dna` from dna.py: DNA's block-wise distillation loss,
arXiv 1911.13053; `ensemble` from ensemble.py: the mean rank of
scorers that already rated the cells); `rank_metrics` (metrics.py) compares their scores with the table's
200-epoch accuracy (Kendall tau, Spearman rho, top-10% precision). `python -m launch.rank`
runs the benchmark.

Example:
>>> from tfnas.ranking import ProxyConfig, ScoringContext, make_scorer, rank_metrics, sample_cells
>>> cells = sample_cells(4, seed=0)
>>> scores = make_scorer("params").score(cells, ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8)))
>>> len(scores)
4
"""

from tfnas.ranking import dna as _dna  # noqa: F401  (registers "dna")
from tfnas.ranking import ensemble as _ensemble  # noqa: F401  (registers "ensemble")
from tfnas.ranking import one_shot as _one_shot  # noqa: F401  (registers "spos")
from tfnas.ranking import standalone as _standalone  # noqa: F401  (registers "standalone")
from tfnas.ranking.metrics import RankMetrics, kendall_tau, rank_metrics, spearman_rho, top_k_size, top_precision
from tfnas.ranking.sample import DEFAULT_NUM_CELLS, sample_cells, sample_indices
from tfnas.ranking.scorers import (
    SCORERS,
    PerCellScorer,
    ProxyConfig,
    Scorer,
    ScoringContext,
    build_proxy_child,
    make_scorer,
    register_scorer,
    weight_kernels,
)

__all__ = [
    "DEFAULT_NUM_CELLS",
    "SCORERS",
    "PerCellScorer",
    "ProxyConfig",
    "RankMetrics",
    "Scorer",
    "ScoringContext",
    "build_proxy_child",
    "kendall_tau",
    "make_scorer",
    "rank_metrics",
    "register_scorer",
    "sample_cells",
    "sample_indices",
    "spearman_rho",
    "top_k_size",
    "top_precision",
    "weight_kernels",
]
