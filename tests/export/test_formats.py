"""Every export format written from a tiny DARTS net and checked on real CIFAR-10 images."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from export.exporter import FORMATS, ExportConfig, export_model

pytestmark = pytest.mark.slow  # one export of every format (~30-60 s on 2 shared cores)

TINY = {"model": "darts_v2", "channels": 4, "layers": 3, "input_size": 16}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("export")
    config = ExportConfig(
        **TINY,
        out=str(out),
        name="tiny",
        parity_images=100,
        calibration_images=20,
        latency_runs=3,
        data_dir=str(data_dir),
        strict=False,  # an untrained net's int8 top-1 agreement is not meaningful
    )
    return out, export_model(config)


def test_summary_has_one_entry_per_format(exported):
    _out, summary = exported
    assert list(summary) == list(FORMATS)
    for fmt, entry in summary.items():
        assert os.path.exists(entry["path"]), fmt
        assert entry["size_bytes"] > 1000
        assert entry["latency"]["median_ms"] > 0
        assert entry["parity"]["images"] == 100
        metric = "top1_agreement" if fmt == "tflite_int8" else "max_abs_diff"
        assert entry[metric] == entry["parity"][metric]
    json.dumps(summary)  # the CLI prints it


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "onnx", "tflite"])
def test_float32_formats_match_keras(exported, fmt):
    _, summary = exported
    assert summary[fmt]["max_abs_diff"] <= 1e-4
    assert summary[fmt]["parity"]["ok"]


def test_float16_and_int8(exported):
    _, summary = exported
    assert summary["tflite_fp16"]["max_abs_diff"] <= 1e-2
    int8 = summary["tflite_int8"]
    # Untrained, near-uniform probabilities: the int8 model still tracks them closely.
    assert int8["parity"]["max_abs_diff"] < 0.05
    assert 0.5 <= int8["top1_agreement"] <= 1.0
    assert int8["size_bytes"] < summary["tflite"]["size_bytes"] * 1.5


def test_saved_model_serving_layout_and_signature(exported):
    import tensorflow as tf

    out, summary = exported
    assert summary["saved_model"]["path"] == os.path.join(str(out), "tiny", "1")
    fn = tf.saved_model.load(summary["saved_model"]["path"]).signatures["serving_default"]
    (spec,) = fn.structured_input_signature[1].values()
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 16, 16, 3]
    out_prob = fn(images=tf.zeros([2, 16, 16, 3], tf.uint8))["probabilities"].numpy()
    np.testing.assert_allclose(out_prob.sum(-1), 1.0, atol=1e-5)


def test_onnx_opset_and_uint8_input(exported):
    from export.onnx import onnx_opset, onnx_session

    _, summary = exported
    path = summary["onnx"]["path"]
    assert onnx_opset(path) >= 17
    (inp,) = onnx_session(path).get_inputs()
    assert inp.type == "tensor(uint8)"


def test_int8_is_fully_quantized_with_uint8_input(exported):
    from ai_edge_litert.interpreter import Interpreter

    _, summary = exported
    interpreter = Interpreter(model_path=summary["tflite_int8"]["path"])
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert "CONV_2D" in ops and "QUANTIZE" in ops
    conv_inputs = [
        interpreter.get_tensor_details()[op["inputs"][0]]["dtype"]
        for op in interpreter._get_ops_details()
        if op["op_name"] == "CONV_2D"
    ]
    assert all(dtype == np.int8 for dtype in conv_inputs)


def test_model_card(exported):
    out, _summary = exported
    card = json.loads((out / "tiny.card.json").read_text())
    assert card["genotype"].startswith("normal=") and card["space"] == "darts"
    assert card["trained"] is False and card["accuracy"] is None
    assert card["trainable_params"] > 0 and card["madds"] > 0
    assert card["input"]["dtype"] == "uint8" and card["input"]["normalization"]["mean"][0] == pytest.approx(0.4914, abs=1e-3)
    assert set(card["formats"]) == set(FORMATS)
    assert card["formats"]["tflite"]["latency"]["runtime"] == "ai_edge_litert"
    assert json.loads((out / "tiny.export_config.json").read_text())["channels"] == 4


def test_consumption_check_runs_every_format_without_tfnas(exported, tmp_path, data_dir):
    """examples/consume.py with a `tfnas` package that refuses to import shadowing the real one."""
    import subprocess
    import sys

    out, _ = exported
    blocker = tmp_path / "block" / "tfnas"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("the consumption check imported tfnas")\n')
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "block"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "TFNAS_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "consume.py"), f"--card={out / 'tiny.card.json'}",
         "--num_images=100"],
        check=False, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    accuracies = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(accuracies) == set(FORMATS)
    float_formats = [accuracies[f]["accuracy"] for f in ("keras", "saved_model", "onnx", "tflite", "tflite_fp16")]
    assert max(float_formats) - min(float_formats) <= 0.01 + 1e-9  # at most one image of 100 differs
    assert all(a["images"] == 100 for a in accuracies.values())
