"""TFLite float32, float16 and int8, run and timed with the LiteRT interpreter.

Conversion starts from the SavedModel the exporter wrote (its variables freeze cleanly):

- `"float32"`: no optimization;
- `"float16"`: weights stored in float16 (`Optimize.DEFAULT` + `supported_types=[float16]`),
  computed in float32 on CPU;
- `"int8"`: full-integer post-training quantization (`TFLITE_BUILTINS_INT8` only) calibrated
  on a representative set of real training images; the model keeps its uint8 image input
  (cast in the graph) and float32 probabilities output, so every format has one interface.

Example:
>>> write_tflite("out/models/darts_v2/1", "out/darts_v2_int8.tflite", "int8", calib)  # doctest: +SKIP
>>> litert_latency("out/darts_v2_int8.tflite")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from export.latency import time_calls

QUANTIZATIONS = ("float32", "float16", "int8")


def write_tflite(
    saved_model_dir: str,
    path: str,
    quantization: str = "float32",
    representative_images: np.ndarray | None = None,
) -> str:
    """Converts the SavedModel at `saved_model_dir` to a `.tflite` file.

    Args:
        saved_model_dir: A SavedModel version folder (see `export.saved_model`).
        path: The `.tflite` file to write.
        quantization: `"float32"`, `"float16"` or `"int8"`.
        representative_images: uint8 images `[N, H, W, 3]` from the training data; required
            (and only used) for `"int8"`.

    Returns:
        `path`.

    Raises:
        ValueError: for an unknown quantization, or int8 without representative images.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}. Received: {quantization!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative_images is None or len(representative_images) == 0:
            raise ValueError("int8 quantization needs representative_images (uint8 training images).")
        images = np.asarray(representative_images)
        if images.dtype != np.uint8:
            raise ValueError(f"representative_images must be uint8. Received dtype {images.dtype}.")

        def representative() -> Iterable[list[np.ndarray]]:
            for i in range(len(images)):
                yield [images[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    data = converter.convert()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _interpreter(path: str, num_threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=path, num_threads=num_threads)


def _output(interpreter) -> np.ndarray:
    detail = interpreter.get_output_details()[0]
    out = interpreter.get_tensor(detail["index"])
    if detail["dtype"] != np.float32:  # a quantized output: dequantize
        scale, zero_point = detail["quantization"]
        out = (out.astype(np.float32) - zero_point) * scale
    return out


def predict_tflite(path: str, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Runs the `.tflite` model at `path` on uint8 `images` with the LiteRT interpreter."""
    interpreter = _interpreter(path)
    detail = interpreter.get_input_details()[0]
    outputs = []
    for i in range(0, len(images), batch_size):
        batch = np.ascontiguousarray(images[i : i + batch_size], dtype=detail["dtype"])
        interpreter.resize_tensor_input(detail["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], batch)
        interpreter.invoke()
        outputs.append(_output(interpreter).copy())
    return np.concatenate(outputs, axis=0)


def litert_latency(path: str, runs: int = 50, warmup: int = 5, num_threads: int = 1) -> dict[str, Any]:
    """Measures batch-1 LiteRT latency of the `.tflite` model at `path` on this CPU.

    Args:
        path: A `.tflite` file.
        runs: Timed `invoke` calls.
        warmup: Untimed calls first.
        num_threads: Interpreter threads (1: a phone-like single core).

    Returns:
        `export.latency.time_calls`'s figures plus `"runtime"` and `"threads"`.

    Raises:
        ValueError: for runs < 1.
    """
    interpreter = _interpreter(path, num_threads=num_threads)
    detail = interpreter.get_input_details()[0]
    shape = [1, *detail["shape"][1:]]
    interpreter.resize_tensor_input(detail["index"], shape)
    interpreter.allocate_tensors()
    image = np.random.default_rng(0).integers(0, 256, size=shape).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], image)
    result = time_calls(interpreter.invoke, runs=runs, warmup=warmup)
    return {"runtime": "ai_edge_litert", "threads": num_threads, **result}
