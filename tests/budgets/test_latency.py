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


def test_the_timed_tflite_file_is_the_deployed_graph_with_frozen_weights():
    """Weights frozen to constants (no resource variables), BatchNorm folded, Keras's outputs."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3, use_bias=False)(x))
    model = keras.Model(x, keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(h)))
    model.layers[2].moving_mean.assign(np.linspace(-1, 1, 4).astype("float32"))  # not the identity BatchNorm
    images = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype("float32")
    interpreter = Interpreter(model_content=latency.tflite_bytes(model))
    interpreter.allocate_tensors()
    ops = {d["op_name"] for d in interpreter._get_ops_details()}
    assert not ops & {"VAR_HANDLE", "READ_VARIABLE", "RSQRT"}, ops
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, model(images, training=False).numpy(), atol=1e-5)


def test_a_cache_timed_on_unfrozen_graphs_is_measured_again(tmp_path):
    path = tmp_path / "lut.json"
    path.write_text(json.dumps({"num_threads": 1, "entries": {"stem|c=4|act=relu6|hw=8": {"median_ms": 9.0}}}))
    table = latency.LiteRTLatencyTable(str(path), runs=3, warmup=1)
    assert table.entries == {}
    table.cost_table(SPACE, input_size=8, num_classes=4)
    data = json.loads(path.read_text())
    assert data["conversion"] == latency.CONVERSION and data["entries"]["stem|c=4|act=relu6|hw=8"]["median_ms"] != 9.0


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
