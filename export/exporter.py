"""`export_model(config)`: one network to every deployment format, checked and described.

Steps: resolve the source (`export.source`), rewrite it into stock Keras and wrap it as the
deployment model (`export.serving`: uint8 images -> probabilities), write each requested
format, run each written file in its own runtime on real test images and compare with the
Keras model (`export.parity`), time batch-1 latency, and write the model card
(`export.card`). Layout under `out`:

    out/<name>/<version>/        SavedModel (TF Serving layout, `serving_default`)
    out/<name>.keras             plain-Keras deployment model (loads without tfnas)
    out/<name>.onnx              ONNX (opset >= 17)
    out/<name>.tflite            TFLite float32
    out/<name>_fp16.tflite       TFLite float16 weights
    out/<name>_int8.tflite       TFLite full-integer int8 (uint8 image input kept)
    out/<name>.card.json         model card
    out/<name>.export_config.json the ExportConfig used

Example:
>>> summary = export_model(ExportConfig(model="darts_v2.c16_l8_cifar10", out="exports"))  # doctest: +SKIP
>>> summary["tflite_int8"]["top1_agreement"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from export import onnx as onnx_format
from export import parity as parity_lib
from export import saved_model as saved_model_format
from export import tflite as tflite_format
from export.card import model_card, write_card
from export.latency import time_calls
from export.serving import normalization_stats, serving_model, to_plain_keras
from export.source import resolve_source

#: Every format, in the order they are written.
FORMATS: tuple[str, ...] = ("keras", "saved_model", "onnx", "tflite", "tflite_fp16", "tflite_int8")
_TFLITE_QUANTIZATION = {"tflite": "float32", "tflite_fp16": "float16", "tflite_int8": "int8"}


def parse_formats(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Parses `"saved_model,onnx,..."` (or `"all"`) into a tuple of known formats.

    Raises:
        ValueError: naming an unknown format and listing the known ones, or for an empty list.
    """
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    items = [t for t in items if t]
    if items == ["all"]:
        return FORMATS
    unknown = [t for t in items if t not in FORMATS]
    if unknown:
        raise ValueError(f"Unknown export format(s) {unknown}. Known: {', '.join(FORMATS)} (or 'all').")
    if not items:
        raise ValueError(f"No export format given. Known: {', '.join(FORMATS)} (or 'all').")
    return tuple(dict.fromkeys(items))


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Everything that defines an export; written to `<out>/<name>.export_config.json`.

    Args:
        model: `.keras` path, zoo name (`darts_v2.c16_l8_cifar10`), or genotype (name, string,
            JSON, JSON file).
        out: Output folder.
        formats: Formats to write (subset of `FORMATS`).
        name: Output name (default: from `model`).
        version: SavedModel version folder (positive integer).
        dataset: Dataset of an untrained genotype network / a report-less `.keras` file.
        channels: Initial channels of an untrained cell network.
        layers: Cells of an untrained cell network.
        input_size: Input size of an untrained network.
        parity_images: Real test images compared per format (issue: 1,000).
        calibration_images: Real training images for int8 calibration.
        calibration_dataset: Where those images come from (default: the model's dataset; for
            an ImageNet-size model that is CIFAR-10 upscaled): any `tfnas.data` dataset, e.g.
            a folder of the user's images or `tfds:NAME`, resized to the model's input.
        latency_runs: Timed batch-1 calls per format.
        opset: ONNX opset (>= 17).
        data_dir: Raw-data folder (default `$TFNAS_DATA_DIR`).
        strict: Raise `ParityError` when a format misses its tolerance (after writing the card).
    """

    model: str
    out: str
    formats: tuple[str, ...] = FORMATS
    name: str | None = None
    version: int = 1
    dataset: str | None = None
    channels: int | None = None
    layers: int | None = None
    input_size: int | None = None
    parity_images: int = 1000
    calibration_images: int = 200
    calibration_dataset: str | None = None
    latency_runs: int = 50
    opset: int = onnx_format.MIN_OPSET
    data_dir: str | None = None
    strict: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", parse_formats(self.formats))
        for field in ("parity_images", "calibration_images", "latency_runs", "version"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{field} must be a positive integer. Received: {field}={value!r}")
        if not self.out:
            raise ValueError("out must name an output folder.")
        if self.opset < onnx_format.MIN_OPSET:
            raise ValueError(f"opset must be >= {onnx_format.MIN_OPSET}. Received: opset={self.opset}")
        if self.name is not None:
            saved_model_format.check_model_name(self.name)

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as a JSON-able dict."""
        data = dataclasses.asdict(self)
        data["formats"] = list(self.formats)
        return data


def _size(path: str) -> int:
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return os.path.getsize(path)


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(-1) == labels))


def export_model(config: ExportConfig) -> dict[str, dict[str, Any]]:
    """Exports `config.model` to every format in `config.formats`, checks and times each.

    Args:
        config: The export's configuration.

    Returns:
        Format -> `{"path", "size_bytes", "max_abs_diff" | "top1_agreement", "parity",
        "accuracy", "latency"}`: the summary the CLI prints as its last line.

    Raises:
        ValueError / FileNotFoundError: for a bad model spec or options.
        ParityError: when `config.strict` and a format misses its tolerance (the files and
            the card are written first, so the failure can be inspected).
    """
    source = resolve_source(
        config.model,
        dataset=config.dataset,
        channels=config.channels,
        layers=config.layers,
        input_size=config.input_size,
        name=config.name,
    )
    stats = normalization_stats(source.dataset)
    deploy = serving_model(to_plain_keras(source.network), dataset=source.dataset, name=source.name)
    size = int(deploy.inputs[0].shape[1])
    os.makedirs(config.out, exist_ok=True)
    with open(os.path.join(config.out, f"{source.name}.export_config.json"), "w", encoding="utf-8") as f:
        json.dump(config.to_dict(), f, indent=2)

    images, labels = parity_lib.real_images(source.dataset, "test", config.parity_images, size, config.data_dir)
    reference = deploy.predict(images, batch_size=100, verbose=0)
    one = images[:1]
    summary: dict[str, dict[str, Any]] = {}

    def record(fmt: str, path: str, predictions: np.ndarray, latency: dict[str, Any]) -> None:
        check = parity_lib.check_parity(fmt, reference, predictions)
        summary[fmt] = {
            "path": os.path.abspath(path),
            "size_bytes": _size(path),
            check["metric"]: check[check["metric"]],
            "parity": check,
            "accuracy": _accuracy(predictions, labels),
            "latency": latency,
        }

    saved_model_dir = None
    with tempfile.TemporaryDirectory() as scratch:
        if "keras" in config.formats:
            path = os.path.join(config.out, f"{source.name}.keras")
            deploy.save(path)
            loaded = keras.saving.load_model(path, compile=False)
            predictions = loaded.predict(images, batch_size=100, verbose=0)
            call = tf.function(lambda x: loaded(x, training=False), autograph=False)
            batch = tf.constant(one)
            latency = {"runtime": "keras (tf.function)", **time_calls(lambda: call(batch), config.latency_runs)}
            record("keras", path, predictions, latency)
        if "saved_model" in config.formats or any(f.startswith("tflite") for f in config.formats):
            root = config.out if "saved_model" in config.formats else scratch
            saved_model_dir = saved_model_format.write_saved_model(deploy, root, source.name, config.version)
        if "saved_model" in config.formats:
            predictions = saved_model_format.predict_saved_model(saved_model_dir, images)
            fn = tf.saved_model.load(saved_model_dir).signatures[saved_model_format.SIGNATURE]
            batch = tf.constant(one)
            latency = {
                "runtime": "tensorflow (serving_default)",
                **time_calls(lambda: fn(images=batch), config.latency_runs),
            }
            record("saved_model", saved_model_dir, predictions, latency)
        if "onnx" in config.formats:
            path = onnx_format.write_onnx(deploy, os.path.join(config.out, f"{source.name}.onnx"), config.opset)
            predictions = onnx_format.predict_onnx(path, images)
            session = onnx_format.onnx_session(path, threads=1)
            input_name = session.get_inputs()[0].name
            latency = {
                "runtime": "onnxruntime",
                "threads": 1,
                "opset": onnx_format.onnx_opset(path),
                **time_calls(lambda: session.run(None, {input_name: one}), config.latency_runs),
            }
            record("onnx", path, predictions, latency)
        calibration = None
        for fmt in ("tflite", "tflite_fp16", "tflite_int8"):
            if fmt not in config.formats:
                continue
            quantization = _TFLITE_QUANTIZATION[fmt]
            suffix = {"float32": "", "float16": "_fp16", "int8": "_int8"}[quantization]
            if quantization == "int8" and calibration is None:
                calibration, _ = parity_lib.real_images(
                    config.calibration_dataset or source.dataset, "train", config.calibration_images, size,
                    config.data_dir)
            path = tflite_format.write_tflite(
                saved_model_dir,
                os.path.join(config.out, f"{source.name}{suffix}.tflite"),
                quantization,
                representative_images=calibration if quantization == "int8" else None,
            )
            predictions = tflite_format.predict_tflite(path, images)
            record(fmt, path, predictions, tflite_format.litert_latency(path, runs=config.latency_runs))

    card = model_card(source, deploy, summary, stats=stats)
    card["parity_images"] = {"dataset": source.dataset, "split": "test", "count": len(images), "size": size}
    card["export_config"] = config.to_dict()
    write_card(card, os.path.join(config.out, f"{source.name}.card.json"))
    failed = {f: e["parity"] for f, e in summary.items() if not e["parity"]["ok"]}
    if failed and config.strict:
        details = "; ".join(
            f"{f}: {p['metric']}={p[p['metric']]:.6g} (limit {p['threshold']})" for f, p in failed.items()
        )
        raise parity_lib.ParityError(
            f"Export parity failed for {source.name}: {details}. The files and "
            f"{source.name}.card.json are in {config.out} for inspection"
            + ("" if source.trained else "; the network is untrained, where int8 top-1 agreement is not meaningful")
            + ".",
            summary=summary,
        )
    return summary
