"""run_ranking against the real table, and the scatter picture."""

from __future__ import annotations

import math

import numpy as np

from tfnas.benchmarks import NB201Table
from tfnas.ranking import ProxyConfig, Scorer, ScoringContext, sample_indices
from tfnas.ranking.benchmark import RankingReport, plot_ranking, run_ranking
from tfnas.ranking.metrics import rank_metrics


class _Oracle(Scorer):
    """Scores a cell by the table itself: a perfect scorer (not registered)."""

    name = "_oracle"

    def __init__(self, table: NB201Table, sign: float = 1.0) -> None:
        self.table, self.sign = table, sign

    def score(self, cells, context):
        return np.array([self.sign * self.table.accuracy(c) for c in cells])


def test_run_ranking_pairs_each_cell_with_its_table_row(data_dir):
    table = NB201Table(data_dir=data_dir)
    indices = sample_indices(30, seed=4)
    context = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8))
    report = run_ranking(_Oracle(table), indices, table, context)
    assert report.metrics.kendall_tau > 0.99 and report.metrics.top10_precision == 1.0
    assert report.indices.tolist() == indices.tolist()
    assert report.cells == [table.genotype(int(i)).to_string() for i in indices]
    assert run_ranking(_Oracle(table, -1.0), indices, table, context).metrics.kendall_tau < -0.99
    assert report.cpu_seconds >= 0 and report.wall_seconds >= 0


def test_scatter_with_zero_and_degenerate_scores(tmp_path):
    scores = np.array([0.0, -math.inf, 1e3, 1e9, 1e20, 5e12])
    accuracies = np.array([10.0, 10.0, 70.0, 85.0, 93.0, 90.0])
    report = RankingReport("synflow", {}, np.arange(6), ["c"] * 6, scores, accuracies,
                           rank_metrics(scores, accuracies), 1.0, 1.0)
    path = plot_ranking(report, str(tmp_path / "scatter.png"))
    assert (tmp_path / "scatter.png").stat().st_size > 1000 and path.endswith("scatter.png")
    assert report.per_cell()[1]["score"] is None and report.per_cell()[0]["score"] == 0.0
