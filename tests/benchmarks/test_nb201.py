"""NAS-Bench-201 table lookups against the real table and its known points."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tfnas.benchmarks import (
    PUBLISHED,
    NB201LatencyTable,
    NB201Table,
    canonical_dataset,
    collapse_trace,
    format_search_results,
    summarize_searches,
)
from tfnas.genotypes.nb201 import NB201Genotype

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table(data_dir) -> NB201Table:
    return NB201Table(data_dir=data_dir)


@pytest.fixture(scope="module")
def latency(data_dir) -> NB201LatencyTable:
    return NB201LatencyTable(data_dir=data_dir)


def test_known_points(table):
    best = table.best("cifar10")
    assert best.index == 6111
    assert best.cifar10 == pytest.approx(94.373, abs=1e-3)
    assert table.accuracy(ALL_SKIP) == pytest.approx(54.297, abs=1e-3)
    assert table.index(ALL_SKIP) == 1835
    assert table.best("cifar100").cifar100 == pytest.approx(73.513, abs=1e-3)
    assert table.best("imagenet16-120").imagenet16 == pytest.approx(47.311, abs=1e-3)
    assert table.stats("cifar10").median == pytest.approx(90.75, abs=0.01)


def test_lookup_by_genotype_string_and_index_agree(table):
    genotype = NB201Genotype.from_string(ALL_SKIP)
    by_genotype = table.lookup(genotype)
    assert by_genotype == table.lookup(ALL_SKIP) == table.lookup(1835) == table.lookup(np.int64(1835))
    assert by_genotype.genotype == genotype
    assert by_genotype.unique_str == genotype.unique_str() == "0+0+0+0"
    assert by_genotype.accuracy("c100") == by_genotype.cifar100 == table.accuracy(1835, "cifar100")
    assert by_genotype.to_dict()["arch"] == ALL_SKIP
    assert table.genotype(6111).to_string() == table.best().genotype.to_string()


def test_stats_of_whole_space_and_subsets(table):
    whole = table.stats("cifar10")
    assert whole.size == len(table) == 15625
    assert whole.best_index == 6111
    assert whole.mean == pytest.approx(87.06, abs=0.01)
    subset = table.stats("cifar10", [1835, 6111, ALL_SKIP])
    assert subset.size == 3
    assert subset.best_index == 6111
    assert subset.worst == pytest.approx(54.297, abs=1e-3)
    assert subset.mean == pytest.approx((2 * 54.29667 + 94.37333) / 3, abs=1e-3)
    assert table.stats("in16", [6111]).std == 0.0
    assert 99.9 < table.percentile(6111) <= 100.0


def test_bad_inputs_are_named(table):
    with pytest.raises(ValueError, match="dataset='svhn'"):
        table.accuracy(0, "svhn")
    with pytest.raises(ValueError, match="out of range"):
        table.lookup(15625)
    with pytest.raises(ValueError, match="Unknown NAS-Bench-201 op"):
        table.lookup("|conv~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|")
    with pytest.raises(TypeError):
        table.lookup(1.5)
    with pytest.raises(ValueError, match="at least one"):
        table.stats("cifar10", [])
    assert canonical_dataset("CIFAR-100") == "cifar100"


def test_missing_location_names_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv("TFNAS_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="TFNAS_DATA_DIR"):
        NB201Table()
    with pytest.raises(FileNotFoundError, match="TFNAS_DATA_DIR"):
        NB201Table(data_dir=tmp_path)
    monkeypatch.setenv("TFNAS_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nats_bench_tss_200ep.csv"):
        NB201Table()


def test_short_or_corrupt_file_is_reported(data_dir, tmp_path):
    source = data_dir / "nb201" / "nats_bench_tss_200ep.csv"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    short = tmp_path / "short.csv"
    short.write_text("".join(lines[:100]), encoding="utf-8")
    with pytest.raises(ValueError, match="truncated: it has 99 rows"):
        NB201Table(short)
    corrupt = tmp_path / "corrupt.csv"
    lines_bad = list(lines)
    lines_bad[5] = "abc," + lines_bad[5].split(",", 1)[1]
    corrupt.write_text("".join(lines_bad), encoding="utf-8")
    with pytest.raises(ValueError, match="corrupt"):
        NB201Table(corrupt)
    swapped = tmp_path / "swapped.csv"
    lines_sw = list(lines)
    lines_sw[1], lines_sw[2] = lines_sw[2], lines_sw[1]
    swapped.write_text("".join(lines_sw), encoding="utf-8")
    with pytest.raises(ValueError, match="row 0 holds"):
        NB201Table(swapped)
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        NB201Table(empty)
    # An explicit path wins over the data folder.
    copy = tmp_path / "copy.csv"
    shutil.copy(source, copy)
    assert NB201Table(copy).best().index == 6111


def test_latency_table(latency, table):
    assert len(latency.devices) == 27
    assert {"pixel3", "raspi4", "1080ti_1", "fpga"} <= set(latency.devices)
    assert latency.latency(0, "pixel3") == pytest.approx(3.60585)
    assert latency.latency(table.genotype(0), "pixel3") == latency.latency(table.genotype(0).to_string(), "pixel3")
    assert latency.latencies("raspi4").shape == (15625,)
    assert set(latency.row(ALL_SKIP)) == set(latency.devices)
    with pytest.raises(ValueError, match="known: 1080ti_1"):
        latency.latency(0, "tpu")


def test_published_numbers():
    assert PUBLISHED["darts"].cifar10 == 54.30
    assert PUBLISHED["gdas"].cifar10 == 93.61
    assert PUBLISHED["pc_darts"].cifar10 == 93.41
    minus = PUBLISHED["darts_minus"]
    assert (minus.cifar10, minus.cifar100, minus.imagenet16, minus.arxiv) == (93.80, 71.53, 45.12, "2009.01027")
    assert PUBLISHED["optimum"].cifar10 == 94.37
    assert PUBLISHED["darts"].arxiv == "1806.09055"


def test_search_summary_and_table(table):
    best = table.genotype(6111).to_string()
    results = {
        "darts": [{"genotype": ALL_SKIP, "seed": 0, "search_seconds": 10.0},
                  {"genotype": ALL_SKIP, "seed": 1, "search_seconds": 20.0}],
        "gdas": [{"genotype": best, "seed": 0, "search_seconds": 5.0},
                 {"genotype": ALL_SKIP, "seed": 1, "search_seconds": 7.0}],
    }
    summary = summarize_searches(results, table)
    assert summary["darts"] == {
        "cells": [ALL_SKIP, ALL_SKIP], "cifar10_mean": 54.297, "cifar10_std": 0.0,
        "cifar100_mean": 15.607, "imagenet16_mean": 16.322, "search_seconds": 15.0,
    }
    assert summary["gdas"]["cifar10_mean"] == pytest.approx((94.373 + 54.297) / 2, abs=1e-3)
    assert summary["gdas"]["cifar10_std"] == pytest.approx((94.373 - 54.297) / 2, abs=1e-3)
    text = format_search_results(results, table)
    assert "54.30+- 0.00 (paper 54.30+-0.00)" in text
    assert "(paper 93.61+-0.09)" in text
    assert "94.37 (paper 94.37)" in text and "47.31 (paper 47.31)" in text
    assert best in text


def test_collapse_trace_follows_the_cells_derived_per_epoch(table):
    best = table.genotype(6111).to_string()
    results = {"darts": [
        {"genotype": ALL_SKIP, "seed": 0, "search_seconds": 1.0, "genotypes_by_epoch": [best, best, ALL_SKIP]},
        {"genotype": ALL_SKIP, "seed": 1, "search_seconds": 1.0, "genotypes_by_epoch": [best, ALL_SKIP, ALL_SKIP]},
    ]}
    trace = collapse_trace(results["darts"], table)
    assert trace["parameter_free"] == [1.0, 3.5, 6.0]  # the best cell has one skip
    assert trace["cifar10"] == pytest.approx([94.373, (94.373 + 54.297) / 2, 54.297], abs=1e-3)
    summary = summarize_searches(results, table)["darts"]
    assert summary["parameter_free_by_epoch"] == [1.0, 3.5, 6.0]
    assert summary["cifar10_by_epoch"][0] == pytest.approx(94.373, abs=1e-3)
    text = format_search_results(results, table)
    assert "e3: 54.30 (6.0)" in text and "e1: 94.37 (1.0)" in text
    # Reports without per-epoch cells, or of unequal lengths, give no trace (and no keys).
    results["darts"][1]["genotypes_by_epoch"] = [best]
    assert collapse_trace(results["darts"], table) is None
    assert "cifar10_by_epoch" not in summarize_searches(results, table)["darts"]
