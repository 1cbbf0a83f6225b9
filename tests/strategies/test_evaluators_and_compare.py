"""Tests of the table and training evaluators and the comparison harness, on the real table."""

from __future__ import annotations

import dataclasses

import pytest

from tfnas.benchmarks import NB201Table
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.strategies import Budget, ProxyConfig, TableEvaluator, TrainEvaluator, make_strategy
from tfnas.strategies import compare

ALL_CONV = NB201Genotype(("nor_conv_3x3",) * 6)


@pytest.fixture(scope="module")
def table(data_dir):
    return NB201Table(data_dir=data_dir)


def test_table_evaluator_reads_the_chosen_column(table):
    for column in ("cifar10", "cifar100", "imagenet16-120"):
        score, cost = TableEvaluator(column, table=table).evaluate(ALL_CONV)
        assert score == table.accuracy(ALL_CONV, column) and cost == 0.0
    assert TableEvaluator("c100", table=table, seconds_per_evaluation=30.0).evaluate(ALL_CONV)[1] == 30.0
    assert "simulation" in TableEvaluator("cifar10", table=table).describe("cifar10")
    assert "simulation" not in TableEvaluator("cifar100", table=table).describe("cifar10")
    with pytest.raises(ValueError):
        TableEvaluator("mnist", table=table)


def test_table_noise_is_seeded(table):
    draws = [[TableEvaluator("cifar10", noise_std=1.0, seed=s, table=table).evaluate(ALL_CONV)[0] for _ in range(1)]
             for s in (0, 0, 1)]
    assert draws[0] == draws[1] != draws[2]


def test_compare_summary_and_plot(table, tmp_path):
    strategies = {name: make_strategy(name) for name in ("random", "evolution", "pnas")}
    results = compare.compare_strategies(
        strategies, lambda seed: TableEvaluator("cifar10", table=table), Budget(evaluations=20), seeds=[0, 1])
    summary = compare.summarize(results, table)
    assert list(summary) == ["random", "evolution", "pnas"]
    for name, row in summary.items():
        assert set(row) >= {"mean", "std", "cpu_hours", "percentile", "evaluations", "cells"}
        accs = [table.accuracy(c) for c in row["cells"]]
        assert row["mean"] == pytest.approx(sum(accs) / 2, abs=1e-3) and len(row["cells"]) == 2
        # Searching on the judged column, the returned cell is the best evaluated one.
        for run in results[name]:
            assert table.accuracy(run["cell"]) == pytest.approx(run["score"])
    again = compare.compare_strategies(
        strategies, lambda seed: TableEvaluator("cifar10", table=table), Budget(evaluations=20), seeds=[0, 1])
    assert [r["cell"] for r in again["pnas"]] == [r["cell"] for r in results["pnas"]]
    for run in results["evolution"]:
        hit = compare.evaluations_to_reach(run, table, 93.5)
        curve_accs = [table.accuracy(cell) for _, _, cell in run["curve"]]
        if hit is None:
            assert max(curve_accs) < 93.5
        else:
            assert curve_accs[hit - 1] >= 93.5 and all(a < 93.5 for a in curve_accs[: hit - 1])
    assert set(summary["random"]["reach"]) == {"93.5", "94"}
    path = compare.plot_comparison(results, table, str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 1000 and path.endswith("c.png")
    assert "random" in compare.format_summary(summary)


def test_train_evaluator_trains_and_scores_on_held_out_images(data_dir, tmp_path):
    proxy = ProxyConfig(dataset="digits", channels=4, layers=1, image_size=8, train_examples=128,
                        val_examples=64, epochs=2, batch_size=32)
    cache = tmp_path / "results.jsonl"
    evaluator = TrainEvaluator(proxy, cache_path=str(cache))
    score, seconds = evaluator.evaluate(ALL_CONV)
    assert 0.0 <= score <= 100.0 and seconds > 0
    # Same seed, same data: the same score (every cell trained from the same start).
    assert evaluator._train(ALL_CONV)[0] == pytest.approx(score, abs=1e-6)
    # The cache: a new evaluator reads the result and its cost instead of training again.
    again = TrainEvaluator(proxy, cache_path=str(cache))
    again._train = None  # would fail if called
    assert again.evaluate(ALL_CONV) == (score, seconds)
    other = TrainEvaluator(dataclasses.replace(proxy, epochs=1), cache_path=str(cache))
    assert ALL_CONV.to_string() not in other._cache  # another proxy's result is not reused
    cache.write_text(cache.read_text() + "not json\n")
    with pytest.raises(ValueError, match="line 2, is not a result line"):
        TrainEvaluator(proxy, cache_path=str(cache))
    dead = evaluator.evaluate(NB201Genotype(("none",) * 6))[0]
    assert dead < 30.0  # the all-none cell cannot learn: chance level on 10 classes
    with pytest.raises(ValueError, match="needs train_examples"):
        TrainEvaluator(ProxyConfig(dataset="digits", train_examples=2000, val_examples=1000)).evaluate(ALL_CONV)


def test_scorer_evaluator_rates_cells_caches_and_floors_degenerate_scores():
    import numpy as np

    from tfnas.ranking.scorers import ProxyConfig as ScorerProxy, ScoringContext
    from tfnas.strategies import ScorerEvaluator

    rng = np.random.default_rng(0)
    context = ScoringContext(ScorerProxy(channels=4, layers=1, image_size=8, batch_size=8),
                             images=rng.standard_normal((16, 8, 8, 3)).astype(np.float32),
                             labels=rng.integers(0, 10, 16))
    evaluator = ScorerEvaluator("params", context)
    small = NB201Genotype.from_string("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    big = NB201Genotype.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    small_score, seconds = evaluator.evaluate(small)
    big_score, _ = evaluator.evaluate(big)
    assert big_score > small_score and seconds > 0
    assert evaluator.evaluate(big) == evaluator.evaluate(big)  # cached: same score and cost

    class Degenerate:
        def score(self, cells, context):
            return np.array([-np.inf])

    evaluator.scorer = Degenerate()
    cell = NB201Genotype.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert evaluator.evaluate(cell)[0] == min(small_score, big_score) - 1.0
    with pytest.raises(ValueError, match="one at a time"):
        ScorerEvaluator("spos", context)
