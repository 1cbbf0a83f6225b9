"""The scorers at a tiny proxy (4 channels, 1 cell per stage, 8x8 images, batch 8)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ranking import SCORERS, PerCellScorer, ProxyConfig, ScoringContext, make_scorer, register_scorer, sample_cells

TINY = ProxyConfig(channels=4, layers=1, image_size=8, batch_size=8, seed=0)
CONV = NB201Genotype.from_string(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
SKIP = NB201Genotype.from_string(
    "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
ALL_NONE = NB201Genotype(("none",) * 6)
# Node 3 gets only `none`: the convolutions inside the cell never reach the output.
CUT_OFF = NB201Genotype.from_string(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|none~2|")


def _context(seed: int = 0, n: int = 16, proxy: ProxyConfig = TINY) -> ScoringContext:
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n, proxy.image_size, proxy.image_size, 3)).astype(np.float32)
    return ScoringContext(proxy, images=images, labels=rng.integers(0, 10, n))


def test_registry_holds_the_scorers_and_refuses_unknown_names():
    assert {"params", "synflow", "naswot", "grad_norm", "zico", "meco", "standalone"} <= set(SCORERS.names())
    with pytest.raises(KeyError, match="Known scorers: .*synflow"):
        make_scorer("snip")


def test_a_new_scorer_plugs_in_with_one_registration_line():
    @register_scorer
    class CountConvs(PerCellScorer):
        name = "_test_count_convs"

        def score_cell(self, cell, context):
            return float(sum(op.startswith("nor_conv") for op in cell.ops))

    scores = make_scorer("_test_count_convs").score([CONV, SKIP], _context())
    assert scores.tolist() == [4.0, 0.0]
    with pytest.raises(ValueError, match="already registered"):
        register_scorer(CountConvs)


def test_params_is_the_reference_parameter_count():
    # The all-nor_conv_3x3 cell at the NB201 network (C=16, N=5): 1,531,546 as AutoDL's TinyNetwork.
    ctx = ScoringContext(ProxyConfig(channels=16, layers=5, image_size=32))
    cell = NB201Genotype(("nor_conv_3x3",) * 6)
    assert make_scorer("params").score([cell], ctx).tolist() == [1_531_546.0]


def test_synflow_ignores_the_data_is_positive_and_zero_when_cut_off():
    cells = [CONV, SKIP, ALL_NONE, CUT_OFF]
    a = make_scorer("synflow").score(cells, _context(seed=0))
    b = make_scorer("synflow").score(cells, _context(seed=1))
    np.testing.assert_array_equal(a, b)
    assert a[0] > a[1] > 0  # Convolutions add synaptic flow; skips only pass it on.
    assert a[2] == a[3] == 0.0  # No path from the input to the output: no flow at all.


def test_synflow_runs_in_float64_without_overflow():
    # At the NB201 network the flow passes 1e38 (float32 overflows to inf).
    ctx = ScoringContext(ProxyConfig(channels=16, layers=5, image_size=32))
    value = make_scorer("synflow").score([NB201Genotype(("nor_conv_3x3",) * 6)], ctx)[0]
    assert math.isfinite(value) and value > 1e38


def test_naswot_degenerate_on_all_none_and_on_a_repeated_image():
    scorer = make_scorer("naswot")
    scores = scorer.score([ALL_NONE, CONV], _context())
    assert scores[0] == -math.inf  # Every ReLU unit is off for every image: K is all ones.
    assert math.isfinite(scores[1])
    # Two identical images have identical codes: K has two equal rows.
    ctx = _context()
    x, y = ctx.images(16)
    x = x.copy()
    x[1] = x[0]
    repeated = ScoringContext(TINY, images=x, labels=y)
    assert scorer.score([CONV], repeated)[0] == -math.inf


def test_naswot_and_grad_norm_read_the_minibatch():
    for name in ("naswot", "grad_norm"):
        a = make_scorer(name).score([CONV], _context(seed=0))[0]
        b = make_scorer(name).score([CONV], _context(seed=1))[0]
        assert math.isfinite(a) and a != b, name


def test_grad_norm_is_seeded_and_positive():
    scorer = make_scorer("grad_norm")
    a = scorer.score([CONV, CONV], _context())
    assert a[0] == a[1] > 0  # Same seed for every cell: the same network, the same score.
    other = ScoringContext(ProxyConfig(channels=4, layers=1, image_size=8, batch_size=8, seed=1),
                           images=_context().images(16)[0], labels=_context().images(16)[1])
    assert scorer.score([CONV], other)[0] != a[0]


def test_zico_needs_two_minibatches_and_is_zero_without_gradients():
    scores = make_scorer("zico").score([CONV, ALL_NONE], _context(n=16))
    assert math.isfinite(scores[0]) and scores[0] != 0.0
    assert scores[1] == 0.0  # No gradient reaches any kernel: every layer is left out.
    with pytest.raises(ValueError, match="needs 16 images"):
        make_scorer("zico").score([CONV], _context(n=8))
    with pytest.raises(ValueError, match="minibatches >= 2"):
        make_scorer("zico", minibatches=1)


def test_standalone_scores_held_out_accuracy():
    scorer = make_scorer("standalone", epochs=1, train_examples=16, val_examples=8)
    score = scorer.score([CONV], _context(n=24))[0]
    assert 0.0 <= score <= 100.0
    assert float(score * 8 / 100).is_integer()  # k of the 8 held-out images
    assert scorer.settings()["epochs"] == 1


# ---------------------------------------------------------------------------- ensemble
def _write_scores(folder, name, cells, values, cpu=2.0):
    rows = [{"index": i, "arch": c.to_string(), "score": v, "cifar10": 90.0} for i, (c, v) in enumerate(zip(cells, values))]
    (folder / f"{name}_scores.json").write_text(json.dumps({"scorer": name, "cpu_seconds": cpu,
                                                            "supernet_training_seconds": 10.0 if name == "b" else 0.0,
                                                            "cells": rows}))


def test_ranks_average_ties_and_put_degenerate_scores_lowest():
    from tfnas.ranking.ensemble import ranks

    assert ranks([3.0, float("-inf"), 3.0, float("nan"), 7.0]).tolist() == [3.5, 1.5, 3.5, 1.5, 5.0]
    assert ranks([]).tolist() == []


def test_ensemble_is_the_mean_member_rank_of_the_requested_cells_in_their_order(tmp_path):
    cells = sample_cells(4, seed=1)
    _write_scores(tmp_path, "a", cells, [10.0, 40.0, 20.0, 30.0])
    _write_scores(tmp_path, "b", cells, [None, 1.0, 3.0, 2.0])
    scorer = make_scorer("ensemble", members=["a", "b"], scores_dir=str(tmp_path))
    # a ranks 1, 4, 2, 3; b ranks 1, 2, 4, 3.
    assert scorer.score(cells, None).tolist() == [1.0, 3.0, 3.0, 3.0]
    reordered = [cells[2], cells[0]]  # Ranks are within the requested set: 2 cells.
    assert scorer.score(reordered, None).tolist() == [2.0, 1.0]
    assert scorer.upstream_seconds() == {"cpu_seconds": 4.0, "supernet_training_seconds": 10.0}
    assert scorer.settings()["members"] == ["a", "b"]


def test_ensemble_errors_name_the_member_and_the_fix(tmp_path):
    cells = sample_cells(3, seed=2)
    _write_scores(tmp_path, "a", cells[:2], [1.0, 2.0])
    (tmp_path / "b_scores.json").write_text("{not json")
    with pytest.raises(ValueError, match="lacks 1 of the 3 cells"):
        make_scorer("ensemble", members=["a", "c"], scores_dir=str(tmp_path)).score(cells, None)
    with pytest.raises(FileNotFoundError, match=r"--scorer=c --workdir="):
        make_scorer("ensemble", members=["c", "a"], scores_dir=str(tmp_path)).score(cells[:2], None)
    with pytest.raises(ValueError, match="not a launch.rank scores file"):
        make_scorer("ensemble", members=["a", "b"], scores_dir=str(tmp_path)).score(cells[:2], None)
    with pytest.raises(ValueError, match="distinct"):
        make_scorer("ensemble", members=["a", "a"], scores_dir=str(tmp_path))


def test_min_eigen_correlation_is_that_of_the_channel_correlation_matrix():
    from tfnas.ranking.scorers import min_eigen_correlation

    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(5, 5, 6))
    fmap[..., 2] = 0.7  # a constant channel: its correlations are undefined, taken as 0
    expected = np.linalg.eigvalsh(np.nan_to_num(np.corrcoef(fmap.reshape(-1, 6).T)))[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        assert min_eigen_correlation(fmap) == pytest.approx(expected, abs=1e-12)
    assert min_eigen_correlation(np.concatenate([fmap, -fmap[..., :1]], axis=-1)) == pytest.approx(0.0, abs=1e-9)
    assert min_eigen_correlation(fmap[..., :1]) == 0.0


def test_meco_reads_one_image_and_tells_cells_apart():
    ctx = _context(seed=0)
    scores = make_scorer("meco").score([CONV, SKIP, CONV], ctx)
    assert np.all(np.isfinite(scores)) and scores[0] == scores[2] and scores[0] != scores[1]
    images, labels = ctx.images(16)
    changed = ScoringContext(TINY, images=np.concatenate([images[:1], _context(seed=1).images(16)[0][1:]]),
                             labels=labels)  # image 0 kept, the rest changed
    assert make_scorer("meco").score([CONV], changed)[0] == pytest.approx(scores[0], rel=1e-9)
