"""The model card: one JSON file beside the exported files that says what they are.

Fields: name, genotype and space, dataset, input/output contract (uint8 images, in-graph
normalization statistics, probabilities), parameters and MAdds (`tfnas.budgets.counters`,
the MobileNet/MnasNet convention: conv + dense multiply-adds), accuracy where measured
(with its source), provenance (weights sha256, training command), and per format: path,
size, parity figures and latency on this CPU, plus the software versions and the machine
load at export time.

Example:
>>> card = model_card(source, deploy, formats)  # doctest: +SKIP
>>> write_card(card, "out/darts_v2.card.json")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
from typing import Any

import keras

_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert")


def _versions() -> dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def model_card(source, deploy: keras.Model, formats: dict[str, dict[str, Any]], *, stats=None) -> dict[str, Any]:
    """Builds the card of an export.

    Args:
        source: The `export.source.ExportSource` exported.
        deploy: The deployment model (uint8 -> probabilities).
        formats: Format name -> its summary entry (path, size, parity, latency).
        stats: `(mean, std)` normalization inside the graph.

    Returns:
        The card as a JSON-able dict.
    """
    from tfnas.budgets.counters import count_madds, count_params

    params = count_params(source.network)
    return {
        "name": source.name,
        "genotype": source.genotype,
        "space": source.space,
        "dataset": source.dataset,
        "trained": source.trained,
        "accuracy": source.accuracy,
        "trainable_params": params.trainable,
        "total_params": params.total,
        "madds": int(count_madds(source.network)),
        "input": {
            "name": "images",
            "dtype": "uint8",
            "shape": [None, *deploy.inputs[0].shape[1:]],
            "range": [0, 255],
            "normalization": {"mean": list(stats[0]), "std": list(stats[1]), "formula": "(x / 255 - mean) / std"}
            if stats
            else None,
        },
        "output": {"name": "probabilities", "dtype": "float32", "shape": [None, deploy.outputs[0].shape[-1]]},
        "provenance": source.provenance,
        "formats": formats,
        "environment": {
            "versions": _versions(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def write_card(card: dict[str, Any], path: str) -> str:
    """Writes `card` as indented JSON to `path` and returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    return path
