"""Export configuration and refusals: bad formats, options, models; strict parity failures."""

from __future__ import annotations

import pytest

from export import parity
from export.exporter import ExportConfig, export_model, parse_formats

TINY = {"model": "darts_v2", "channels": 4, "layers": 3, "input_size": 16}


def test_parse_formats():
    assert parse_formats("onnx, tflite_int8,onnx") == ("onnx", "tflite_int8")
    assert parse_formats("all")[0] == "keras"


def test_check_parity_metrics():
    ref = [[0.9, 0.1], [0.2, 0.8]]
    assert parity.check_parity("onnx", ref, ref)["ok"]
    flipped = parity.check_parity("tflite_int8", ref, [[0.4, 0.6], [0.2, 0.8]])
    assert flipped["top1_agreement"] == 0.5 and not flipped["ok"]
    assert not parity.check_parity("tflite_fp16", ref, [[0.85, 0.15], [0.2, 0.8]])["ok"]
    with pytest.raises(ValueError, match="Output shapes differ"):
        parity.check_parity("onnx", ref, [[1.0, 0.0]])
    with pytest.raises(ValueError, match="Unknown format"):
        parity.check_parity("pb", ref, ref)


def test_strict_export_raises_when_a_format_misses_its_tolerance(tmp_path, data_dir, monkeypatch):
    monkeypatch.setitem(parity.TOLERANCES, "keras", ("max_abs_diff", -1.0))
    config = ExportConfig(**TINY, out=str(tmp_path), formats="keras", parity_images=10, latency_runs=1,
                          data_dir=str(data_dir))
    with pytest.raises(parity.ParityError, match="keras: max_abs_diff") as caught:
        export_model(config)
    assert caught.value.summary["keras"]["parity"]["ok"] is False
    assert (tmp_path / "darts_v2.card.json").exists()  # written before failing


def test_bad_inputs_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="Unknown export format.*'tflite_int4'"):
        parse_formats("onnx,tflite_int4")
    with pytest.raises(ValueError, match="parity_images must be a positive integer"):
        ExportConfig(model="darts_v2", out=str(tmp_path), parity_images=0)
    with pytest.raises(ValueError, match="opset must be >= 17"):
        ExportConfig(model="darts_v2", out=str(tmp_path), opset=13)
    with pytest.raises(ValueError, match="not a .keras file, a zoo model"):
        export_model(ExportConfig(model="no_such_net", out=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="No such .keras file"):
        export_model(ExportConfig(model=str(tmp_path / "missing.keras"), out=str(tmp_path)))
    with pytest.raises(ValueError, match="Model name must be"):
        ExportConfig(model="darts_v2", out=str(tmp_path), name="../escape")


def test_export_from_a_trained_keras_file_reads_its_report(tmp_path, data_dir):
    import json

    import tfnas.ops  # noqa: F401
    from tfnas.children import build_child
    from tfnas.genotypes import codec

    genotype = codec.load("darts_v2")
    run = tmp_path / "run"
    run.mkdir()
    build_child(genotype, channels=4, layers=2, input_size=16, drop_path_rate=0.2).save(run / "model.keras")
    (run / "report.json").write_text(json.dumps(
        {"genotype": genotype.to_string(), "space": "darts", "dataset": "cifar10", "test_accuracy": 0.5}))
    out = tmp_path / "out"
    summary = export_model(ExportConfig(model=str(run / "model.keras"), out=str(out), formats="keras",
                                        parity_images=20, latency_runs=1, data_dir=str(data_dir)))
    assert summary["keras"]["max_abs_diff"] <= 1e-4
    card = json.loads((out / "run.card.json").read_text())
    assert card["accuracy"]["top1"] == 0.5 and card["genotype"] == genotype.to_string()
    with pytest.raises(ValueError, match="fixes its own architecture"):
        export_model(ExportConfig(model=str(run / "model.keras"), out=str(out), channels=8))
