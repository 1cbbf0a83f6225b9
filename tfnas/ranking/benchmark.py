"""One ranking benchmark run: score a sample of NAS-Bench-201 cells, compare with the table.

`run_ranking(scorer, indices, table, context)` scores the cells at `indices` (see
`tfnas.ranking.sample`), times it in process CPU seconds (all threads, plus finished child
processes) and wall seconds, looks the cells' 200-epoch CIFAR-10 test accuracy up and
returns a `RankingReport` with the rank metrics. `write_scores` and `plot_ranking` put
the per-cell scores and a scatter picture in a folder.

Example:
>>> from tfnas.benchmarks import NB201Table  # doctest: +SKIP
>>> from tfnas.ranking import ProxyConfig, ScoringContext, make_scorer, sample_indices  # doctest: +SKIP
>>> report = run_ranking(make_scorer("params"), sample_indices(20, seed=0), NB201Table(),
...                      ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8)))  # doctest: +SKIP
>>> -1.0 <= report.metrics.kendall_tau <= 1.0  # doctest: +SKIP
True
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfnas.ranking.metrics import RankMetrics, rank_metrics
from tfnas.ranking.scorers import Scorer, ScoringContext
from tfnas.runtime import cpu_seconds

#: Kendall tau on NAS-Bench-201 CIFAR-10 as published (ZiCo, arXiv 2301.11300, Tab. 1), by scorer name.
PUBLISHED_KENDALL_TAU: dict[str, float] = {"params": 0.57, "grad_norm": 0.46, "synflow": 0.54, "zico": 0.61}
PUBLISHED_SOURCE = "ZiCo arXiv 2301.11300, Tab. 1, NB201 CIFAR-10"


@dataclasses.dataclass(frozen=True)
class RankingReport:
    """The result of scoring one sample of cells.

    Args:
        scorer: The scorer's name.
        settings: The scorer's own settings.
        indices: NAS-Bench-201 indices of the cells, in sample order.
        cells: Their architecture strings.
        scores: One score per cell (`-inf`: degenerate).
        accuracies: Their 200-epoch CIFAR-10 test accuracy (%) from the table.
        metrics: Rank agreement of `scores` with `accuracies`.
        cpu_seconds: Process CPU seconds spent scoring (all threads, children included;
            cells read back from an interrupted run at what they cost then).
        wall_seconds: Wall seconds spent scoring (likewise).
    """

    scorer: str
    settings: dict[str, Any]
    indices: np.ndarray
    cells: list[str]
    scores: np.ndarray
    accuracies: np.ndarray
    metrics: RankMetrics
    cpu_seconds: float
    wall_seconds: float

    def per_cell(self) -> list[dict[str, Any]]:
        """One JSON-able dict per cell: index, arch, score (None when degenerate), cifar10."""
        return [
            {"index": int(i), "arch": a, "score": float(s) if math.isfinite(s) else None, "cifar10": float(acc)}
            for i, a, s, acc in zip(self.indices, self.cells, self.scores, self.accuracies)
        ]


def run_ranking(scorer: Scorer, indices: Sequence[int] | np.ndarray, table: Any, context: ScoringContext,
                dataset: str = "cifar10") -> RankingReport:
    """Scores the cells at `indices` with `scorer` and compares with `table`.

    Args:
        scorer: A `Scorer` (see `tfnas.ranking.make_scorer`).
        indices: NAS-Bench-201 indices (e.g. `sample_indices(200, seed)`).
        table: A `tfnas.benchmarks.NB201Table`.
        context: The scoring context (proxy, data, state).
        dataset: The table column judged against (default CIFAR-10).

    Returns:
        A `RankingReport`.

    Raises:
        ValueError: if the scorer returns the wrong number of scores, NaN or +inf.
    """
    indices = np.asarray(indices, dtype=np.int64)
    cells = [table.genotype(int(i)) for i in indices]
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    scores = np.asarray(scorer.score(cells, context), dtype=np.float64).reshape(-1)
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    # cells an interrupted run scored (read back from `context.results`) cost what they cost then
    _, resumed_cpu, resumed_wall = scorer.resumed
    cpu, wall = cpu + resumed_cpu, wall + resumed_wall
    if scores.size != len(cells):
        raise ValueError(f"Scorer {scorer.name!r} returned {scores.size} scores for {len(cells)} cells.")
    accuracies = np.array([table.accuracy(int(i), dataset) for i in indices], dtype=np.float64)
    return RankingReport(
        scorer=scorer.name,
        settings=scorer.settings(),
        indices=indices,
        cells=[c.to_string() for c in cells],
        scores=scores,
        accuracies=accuracies,
        metrics=rank_metrics(scores, accuracies),
        cpu_seconds=cpu,
        wall_seconds=wall,
    )


def plot_ranking(report: RankingReport, path: str, title: str | None = None) -> str:
    """Writes a scatter PNG of score against table accuracy (matplotlib Agg); returns `path`.

    The score axis is logarithmic when the finite scores are >= 0 and the positive ones
    span more than three decades (synflow, parameter counts); cells that cannot be placed
    on the axis (degenerate `-inf` scores, and zeros on a log axis) are drawn as crosses on
    the left edge.
    """
    import matplotlib.figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    scores, acc = report.scores, report.accuracies
    finite = np.isfinite(scores)
    positive = scores[finite & (scores > 0)]
    log = bool(positive.size > 1 and scores[finite].min() >= 0 and positive.max() / positive.min() > 1e3)
    placed = finite & (scores > 0) if log else finite
    figure = matplotlib.figure.Figure(figsize=(6.0, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    values = scores[placed]
    ax.scatter(values, acc[placed], s=12, alpha=0.7, label="cells")
    if (~placed).any():
        if not values.size:
            edge = 0.0
        elif log:
            edge = values.min() / 10
        else:
            edge = values.min() - 0.05 * (np.ptp(values) or 1.0)
        what = "zero or -inf" if log else "degenerate (-inf)"
        ax.scatter(np.full((~placed).sum(), edge), acc[~placed], marker="x", color="tab:red", s=18,
                   label=f"{what}: {(~placed).sum()}")
    if log:
        ax.set_xscale("log")
    m = report.metrics
    ax.set_xlabel(f"{report.scorer} score")
    ax.set_ylabel("NAS-Bench-201 CIFAR-10 test accuracy (%, 200 epochs)")
    ax.set_title(title or f"{report.scorer}: {m.num_cells} cells, tau {m.kendall_tau:.3f}, "
                          f"rho {m.spearman_rho:.3f}, top-10% {m.top10_precision:.2f}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    return path
