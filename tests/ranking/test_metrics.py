"""Rank metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfnas.ranking import kendall_tau, rank_metrics, spearman_rho, top_k_size, top_precision


def test_identical_and_reversed_orders():
    truth = np.linspace(50.0, 94.0, 20)
    same = rank_metrics(truth * 3 + 1, truth)
    assert (same.kendall_tau, same.spearman_rho, same.top10_precision) == (1.0, 1.0, 1.0)
    reversed_ = rank_metrics(-truth, truth)
    assert reversed_.kendall_tau == pytest.approx(-1.0) and reversed_.spearman_rho == pytest.approx(-1.0)
    assert reversed_.top10_precision == 0.0
    assert same.top_k == 2 and same.num_cells == 20 and same.degenerate == 0


def test_values_by_hand():
    # One discordant pair of six: tau = (5 - 1) / 6; rho = 1 - 6 * 2 / (4 * 15).
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert spearman_rho([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)


def test_top10_precision_by_hand():
    # 20 cells, top 10% = 2 cells. The scorer's top 2 are cells 0 and 1, the table's cells 0 and 2.
    scores = np.arange(20, 0, -1, dtype=float)
    truth = np.zeros(20)
    truth[[0, 2]] = [90.0, 80.0]
    truth[3:] = np.linspace(10.0, 60.0, 17)
    assert top_precision(scores, truth) == 0.5
    assert top_k_size(200) == 20 and top_k_size(5) == 1 and top_k_size(25) == 3


def test_a_tie_at_the_cut_counts_fractionally():
    # 10 cells, top 1: the scorer ties cells 0 and 1 at the top; only cell 0 is the table's best.
    scores = [5, 5, 1, 1, 1, 1, 1, 1, 1, 1]
    truth = [90, 50, 40, 30, 20, 10, 11, 12, 13, 14]
    assert top_precision(scores, truth) == 0.5
    # ... and the answer does not depend on the order of the cells.
    assert top_precision(scores[::-1], truth[::-1]) == 0.5


def test_degenerate_scores_rank_lowest():
    truth = [10.0, 40.0, 60.0, 90.0]
    m = rank_metrics([-math.inf, 1.0, 2.0, 3.0], truth)
    assert m.kendall_tau == 1.0 and m.degenerate == 1
    # Two degenerate cells tie: tau-b below 1 but still positive.
    assert 0 < kendall_tau([-math.inf, -math.inf, 2.0, 3.0], truth) < 1


@pytest.mark.parametrize("scores, truth, match", [
    ([1.0, float("nan"), 2.0], [1.0, 2.0, 3.0], "NaN"),
    ([1.0, math.inf], [1.0, 2.0], r"\+inf"),
    ([1.0, 2.0], [1.0, 2.0, 3.0], "same length"),
    ([1.0], [1.0], "at least 2"),
])
def test_bad_inputs_raise(scores, truth, match):
    with pytest.raises(ValueError, match=match):
        rank_metrics(scores, truth)
