"""How well a scorer ranks cells: Kendall tau, Spearman rho, precision of the top fraction.

The scores are compared with the ground truth (NAS-Bench-201's 200-epoch test accuracy of
the same cells). Scores may hold `-inf` (a degenerate score, e.g. NASWOT's log-determinant
of a singular kernel), which ranks lowest; NaN is refused. Ties are handled as scipy's
`kendalltau` (tau-b) and `spearmanr` (average ranks) handle them, and `top_precision`
splits a tie at the cut-off fractionally: the expected precision when the tied cells are
ordered at random.

References:
    - Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, arXiv 2101.08134 (Spearman
      rho and top-10% agreement on NAS-Bench-201).
    - Li et al., ZiCo, arXiv 2301.11300 (Kendall tau on NATS-Bench-TSS).

Example:
>>> m = rank_metrics([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0])
>>> m.kendall_tau, m.spearman_rho, m.top10_precision
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

ArrayLike = Sequence[float] | np.ndarray


@dataclasses.dataclass(frozen=True)
class RankMetrics:
    """Rank agreement between a scorer and the ground truth over one sample of cells.

    Args:
        kendall_tau: Kendall tau-b.
        spearman_rho: Spearman rank correlation.
        top10_precision: Fraction of the scorer's top 10% that is in the truth's top 10%.
        top_k: The number of cells in a top 10% (`top_k_size(n)`).
        num_cells: Cells compared.
        degenerate: Cells whose score is `-inf` (ranked lowest, tied).
    """

    kendall_tau: float
    spearman_rho: float
    top10_precision: float
    top_k: int
    num_cells: int
    degenerate: int

    def to_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def _check(scores: ArrayLike, truth: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(truth, dtype=np.float64).reshape(-1)
    if s.shape != t.shape:
        raise ValueError(f"scores and truth must have the same length. Received: {s.size} and {t.size}")
    if s.size < 2:
        raise ValueError(f"Rank metrics need at least 2 cells. Received: {s.size}")
    if np.isnan(s).any():
        raise ValueError(f"scores hold {int(np.isnan(s).sum())} NaN value(s); a scorer must return numbers or -inf.")
    if np.isposinf(s).any():
        raise ValueError("scores hold +inf; a degenerate score must be -inf (ranked lowest).")
    if not np.isfinite(t).all():
        raise ValueError("truth must be finite.")
    return s, t


def _ranks(values: np.ndarray) -> np.ndarray:
    # Average ranks (ties share the mean rank); -inf sorts first. Ranking first keeps
    # scipy's statistics away from infinities.
    return stats.rankdata(values, method="average")


def kendall_tau(scores: ArrayLike, truth: ArrayLike) -> float:
    """Kendall tau-b between `scores` and `truth` (1: same order, -1: reversed).

    Returns NaN when either side is constant (no order to compare).

    Example:
    >>> kendall_tau([3, 2, 1], [1, 2, 3])
    -1.0
    """
    s, t = _check(scores, truth)
    return float(stats.kendalltau(_ranks(s), _ranks(t)).statistic)


def spearman_rho(scores: ArrayLike, truth: ArrayLike) -> float:
    """Spearman's rank correlation between `scores` and `truth`.

    Example:
    >>> round(spearman_rho([1, 2, 3, 4], [1, 2, 4, 3]), 6)
    0.8
    """
    s, t = _check(scores, truth)
    return float(stats.spearmanr(_ranks(s), _ranks(t)).statistic)


def top_k_size(num_cells: int, fraction: float = 0.1) -> int:
    """Cells in the top `fraction` of `num_cells`: `ceil(fraction * n)`, at least 1.

    Example:
    >>> top_k_size(200), top_k_size(5), top_k_size(25)
    (20, 1, 3)
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1]. Received: fraction={fraction}")
    # Round before ceil so that 0.1 * 200 = 20.000000000000004 stays 20.
    return max(1, math.ceil(round(fraction * num_cells, 9)))


def _top_membership(values: np.ndarray, k: int) -> np.ndarray:
    """Per cell, its share of the top-k: 1 above the k-th value, a fraction when tied with it."""
    order = np.sort(values)[::-1]
    cut = order[k - 1]
    above = values > cut
    tied = values == cut
    weight = above.astype(np.float64)
    weight[tied] = (k - above.sum()) / tied.sum()
    return weight


def top_precision(scores: ArrayLike, truth: ArrayLike, fraction: float = 0.1) -> float:
    """Fraction of the scorer's top `fraction` of cells that are in the truth's top `fraction`.

    Both tops hold `top_k_size(n, fraction)` cells; cells tied at either cut-off count
    fractionally (the expectation over random tie-breaks), so the result does not depend
    on the order of the cells.

    Args:
        scores: The scorer's values (higher = predicted better; `-inf` allowed).
        truth: The ground truth (e.g. test accuracy), higher = better.
        fraction: The top fraction, default 10%.

    Returns:
        A value in [0, 1].

    Example:
    >>> top_precision([5, 4, 3, 2, 1, 0, 0, 0, 0, 0], [0, 9, 0, 0, 0, 0, 0, 0, 0, 1])  # top 1 of 10
    0.0
    >>> top_precision([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], fraction=0.2)
    1.0
    """
    s, t = _check(scores, truth)
    k = top_k_size(s.size, fraction)
    return float(np.dot(_top_membership(s, k), _top_membership(t, k)) / k)


def rank_metrics(scores: ArrayLike, truth: ArrayLike) -> RankMetrics:
    """Kendall tau, Spearman rho and top-10% precision of `scores` against `truth`.

    Args:
        scores: One score per cell, higher = predicted better (`-inf`: degenerate).
        truth: The cells' ground-truth accuracy, same order.

    Returns:
        A `RankMetrics`.

    Raises:
        ValueError: for different lengths, fewer than 2 cells, NaN or +inf scores.

    Example:
    >>> rank_metrics([4, 3, 2, 1], [1, 2, 3, 4]).kendall_tau
    -1.0
    """
    s, t = _check(scores, truth)
    return RankMetrics(
        kendall_tau=kendall_tau(s, t),
        spearman_rho=spearman_rho(s, t),
        top10_precision=top_precision(s, t, 0.1),
        top_k=top_k_size(s.size, 0.1),
        num_cells=int(s.size),
        degenerate=int(np.isneginf(s).sum()),
    )
