"""Zoo weights files: float16 `.npz` keyed by variable path, verified by sha256 on load.

A weights file is a NumPy `.npz` archive with one array per model variable, keyed by the
variable's path (`"<layer name>/<variable name>"`, deterministic because every tfnas layer
is named) and stored as float16, which halves the size of a `.weights.h5` file. Loading
checks the file's sha256 against the expected one first: a mismatch raises
`WeightsIntegrityError`, never a warning. Then every variable of the model must find an
array of its shape (except those skipped by prefix, e.g. the classifier when
`include_top=False`).

Example:
>>> digest = save_weights_npz(model, "darts_v2.npz")  # doctest: +SKIP
>>> load_weights_npz(model, "darts_v2.npz", sha256=digest)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import keras
import numpy as np


class WeightsIntegrityError(ValueError):
    """A weights file's sha256 is not the one its card records (corrupt or replaced file)."""


def sha256_file(path: str) -> str:
    """Returns the hex sha256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stored_variables(model: keras.Model) -> list:
    """The model's weights minus random-seed state (whose names are numbered per process)."""
    return [v for v in model.weights if "seed_generator" not in v.path]


def save_weights_npz(model: keras.Model, path: str, dtype: str = "float16") -> str:
    """Writes every variable of `model` to a compressed `.npz` file and returns its sha256.

    Args:
        model: The model whose variables to store.
        path: The `.npz` file to write.
        dtype: Storage dtype of floating variables (`"float16"` or `"float32"`).

    Returns:
        The file's hex sha256.

    Raises:
        ValueError: for another dtype, or two variables with the same path.
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32'. Received: dtype={dtype!r}")
    arrays: dict[str, np.ndarray] = {}
    for variable in _stored_variables(model):
        key = variable.path
        if key in arrays:
            raise ValueError(f"Two variables share the path {key!r}; weights could not load by name.")
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        if np.issubdtype(value.dtype, np.floating):
            value = value.astype(dtype)
        arrays[key] = value
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return sha256_file(path)


def load_weights_npz(
    model: keras.Model,
    path: str,
    sha256: str | None = None,
    skip_prefixes: Sequence[str] = (),
) -> None:
    """Loads a `save_weights_npz` file into `model`, after checking its sha256.

    Args:
        model: The model to fill (built with the architecture the file was saved from).
        path: The `.npz` file.
        sha256: The expected hex sha256; None skips the check (a user's own file).
        skip_prefixes: Variable-path prefixes to leave untouched (e.g. the classifier).

    Raises:
        FileNotFoundError: if `path` does not exist.
        WeightsIntegrityError: if the file's sha256 differs from `sha256`.
        ValueError: if the file lacks a variable of `model` or holds one of another shape.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path}")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise WeightsIntegrityError(
                f"sha256 mismatch for {path}: expected {sha256}, file has {actual}. The file is corrupt "
                "or was replaced; reinstall tfnas (or restore the file) rather than using these weights."
            )
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as err:  # zipfile / numpy raise several types for a damaged file
        raise ValueError(f"{path} is not a readable .npz weights file: {err}") from err
    with archive:
        missing, wrong = [], []
        assignments = []
        for variable in _stored_variables(model):
            key = variable.path
            if any(key.startswith(p) for p in skip_prefixes):
                continue
            if key not in archive.files:
                missing.append(key)
                continue
            value = archive[key]
            if tuple(value.shape) != tuple(variable.shape):
                wrong.append(f"{key}: file {tuple(value.shape)} vs model {tuple(variable.shape)}")
                continue
            assignments.append((variable, value))
        if missing or wrong:
            raise ValueError(
                f"{path} does not fit {model.name}: {len(missing)} variables missing "
                f"{missing[:5]}, {len(wrong)} of another shape {wrong[:5]}. Build the model with the "
                "architecture (channels, layers, classes) the weights were trained with."
            )
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
