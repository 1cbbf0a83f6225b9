"""Tests for tfnas.budgets.latency: the LiteRT per-block table, its cache, NB201 device latencies."""

from __future__ import annotations

import json

import keras
import pytest

from tfnas.budgets import latency
from tfnas.genotypes.block import BlockGenotype, BlockSpec
from tfnas.spaces.mobile import CandidateSpace, MobileSpace, StageSpec

SPACE = CandidateSpace.from_space(
    MobileSpace(stem=4, stages=(StageSpec(8, 2, 1),), head=0, kernels=(3,), expansions=(3,), se_ratios=(0.0,),
                activations=("relu6",), block_types=("ir",)), act="relu6")


def test_table_measures_once_caches_and_prices_the_space(tmp_path):
    path = str(tmp_path / "lut.json")
    table = latency.LiteRTLatencyTable(path, runs=3, warmup=1)
    costs = table.cost_table(SPACE, input_size=8, num_classes=4)
    assert table.measured == 3  # one block, the stem, the head
    assert costs.metric == "latency_ms" and costs.num_decisions == 1
    assert costs.choices[0][0] > 0 and costs.base > 0
    data = json.loads(open(path).read())
    assert data["num_threads"] == 1 and len(data["entries"]) == 3
    again = latency.LiteRTLatencyTable(path, runs=3, warmup=1)
    assert again.cost_table(SPACE, input_size=8, num_classes=4) == costs
    assert again.measured == 0  # all from the cache
    assert again.block_latency(BlockSpec("zero", 1), 8, 4) == 0.0
    with pytest.raises(ValueError, match="num_threads"):
        latency.LiteRTLatencyTable(path, num_threads=2)


def test_model_latency_of_a_tiny_network():
    x = keras.Input((8, 8, 3))
    model = keras.Model(x, keras.layers.Conv2D(4, 3)(x))
    figures = latency.model_latency(model, runs=3, warmup=1)
    assert figures["median_ms"] > 0 and figures["runtime"] == "ai_edge_litert" and figures["threads"] == 1


def test_genotype_latency_is_the_sum_of_its_blocks():
    table = latency.LiteRTLatencyTable(None, runs=3, warmup=1)
    g = BlockGenotype.from_string("stem=4;blocks=ir_r1_k3_s2_e3_c8_nr6;head=0;act=relu6")
    total = table.genotype_latency(g, input_size=8, num_classes=4)
    block = table.block_latency(g.stages[0][0], 4, 4, "relu6")
    assert total == pytest.approx(block + table.base_latency(SPACE, 8, 4))


def test_nb201_device_latency(data_dir):
    value = latency.nb201_latency(0, "pixel3", data_dir=str(data_dir))
    assert value == pytest.approx(3.60585, rel=1e-4)
    with pytest.raises(ValueError, match="device"):
        latency.nb201_latency(0, "no_such_phone", data_dir=str(data_dir))
