"""Shared test helpers: config round trip and `.keras` save/load parity."""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np


def assert_config_and_save_roundtrip(model: keras.Model, inputs, atol: float = 1e-6) -> None:
    """Checks `from_config(get_config())` rebuilds the model and `.keras` save/load keeps outputs.

    The rebuilt-from-config model must have the same structure (same variable shapes);
    the saved-and-loaded model must give identical inference outputs on `inputs`.
    """
    expected = model(inputs, training=False)
    config = model.get_config()
    rebuilt = model.__class__.from_config(config)
    rebuilt(inputs, training=False)
    shapes = sorted(tuple(v.shape) for v in model.weights)
    assert sorted(tuple(v.shape) for v in rebuilt.weights) == shapes
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    got = loaded(inputs, training=False)
    for e, g in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        np.testing.assert_allclose(np.asarray(e), np.asarray(g), atol=atol, rtol=0)
