"""SavedModel in TensorFlow Serving's versioned layout: `DIR/<model>/<version>/`.

Written with `keras.export.ExportArchive` (Keras 3's SavedModel writer): its variables are
tracked so `tf.lite.TFLiteConverter.from_saved_model` freezes them. (A plain `tf.Module`
with `tf.saved_model.save` also serves, but the TFLite converter then keeps `READ_VARIABLE`
ops that fail at run time; the archive avoids that.)

The `serving_default` signature takes `images` (uint8, `[None, H, W, 3]`) and returns
`{"probabilities": float32 [None, classes]}`; normalization happens inside the graph.

Example:
>>> path = write_saved_model(deploy, "out/models", "darts_v2", version=1)  # doctest: +SKIP
>>> import tensorflow as tf  # doctest: +SKIP
>>> tf.saved_model.load(path).signatures["serving_default"](images=batch)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np
import tensorflow as tf

SIGNATURE = "serving_default"
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"


def check_model_name(name: str) -> str:
    """Returns `name` if it can be a serving folder name, else raises ValueError."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(
            "Model name must be letters, digits, '_', '.', '-' (it names the serving folder). "
            f"Received: {name!r}"
        )
    return name


def write_saved_model(model: keras.Model, root: str, name: str, version: int = 1) -> str:
    """Writes `model` to `root/name/version` with a uint8 `serving_default` signature.

    Args:
        model: The deployment model (uint8 images -> probabilities, see `export.serving`).
        root: The model base path a serving system watches.
        name: The model's folder name.
        version: A positive integer version (TF Serving loads the highest).

    Returns:
        The version folder's path.

    Raises:
        ValueError: for a bad name or version, a model whose input is not uint8, or an
            existing version folder (versions are immutable; pick a new one).
    """
    check_model_name(name)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"version must be a positive integer. Received: version={version!r}")
    if model.inputs[0].dtype != "uint8":
        raise ValueError(
            f"The deployment model must take uint8 images; {model.name} takes {model.inputs[0].dtype}. "
            "Wrap the network with export.serving.serving_model."
        )
    path = os.path.join(root, name, str(version))
    if os.path.exists(path) and os.listdir(path):
        raise ValueError(f"{path} already exists and is not empty: choose a new --version or --out.")
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.uint8, name=INPUT_NAME)

    def serve(images):
        return {OUTPUT_NAME: model(images, training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=[spec])
    archive.write_out(path, verbose=False)
    return path


def predict_saved_model(path: str, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """Runs the `serving_default` signature of the SavedModel at `path` on uint8 `images`."""
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures[SIGNATURE]
    outputs = [
        fn(**{INPUT_NAME: tf.constant(images[i : i + batch_size])})[OUTPUT_NAME].numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs, axis=0)
