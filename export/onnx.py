"""ONNX through tf2onnx, checked with onnxruntime.

The graph converted is the deployment model's inference function with a uint8 input named
`images` and one output `probabilities`; normalization constants are folded into the graph.

Example:
>>> write_onnx(deploy, "out/darts_v2.onnx")  # doctest: +SKIP
>>> predict_onnx("out/darts_v2.onnx", images)  # doctest: +SKIP
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

#: The lowest opset tfnas writes (the issue's floor; LayerNormalization-era runtimes).
MIN_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"


def write_onnx(model: keras.Model, path: str, opset: int = MIN_OPSET) -> str:
    """Converts the deployment `model` to ONNX at `path`.

    Args:
        model: The deployment model (uint8 images -> probabilities).
        path: The `.onnx` file to write.
        opset: ONNX opset, at least 17.

    Returns:
        `path`.

    Raises:
        ValueError: for an opset below 17.
    """
    import tf2onnx

    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an int >= {MIN_OPSET}. Received: opset={opset!r}")
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], model.inputs[0].dtype, name=INPUT_NAME)

    @tf.function(input_signature=[spec], autograph=False)
    def serve(images):
        return {OUTPUT_NAME: model(images, training=False)}

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tf2onnx.convert.from_function(serve, input_signature=[spec], opset=opset, output_path=path)
    return path


def onnx_session(path: str, threads: int | None = None):
    """Returns an onnxruntime CPU session for `path` (`threads`: intra-op threads, None: default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def predict_onnx(path: str, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Runs the ONNX model at `path` on uint8 `images` with onnxruntime."""
    session = onnx_session(path)
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: images[i : i + batch_size]})[0] for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs, axis=0)


def onnx_opset(path: str) -> int:
    """Returns the default-domain opset of the ONNX file at `path`."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
