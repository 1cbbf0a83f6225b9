"""What to export: a zoo model, a genotype, or a trained `.keras` file, with its metadata.

`resolve_source(spec)` accepts, in this order:

1. a path to a `.keras` file (e.g. the `model.keras` of `launch.train`); its `report.json`
   beside it, when present, gives the genotype, dataset and measured test accuracy;
2. a zoo name with a weights tag (`darts_v2.c16_l8_cifar10`, see
   `tfnas.applications.list_models(pretrained=True)`): the shipped, hash-verified weights and
   their model card (accuracy, training command);
3. a zoo architecture name, published genotype name, canonical genotype string, genotype
   JSON or JSON file: the network is built untrained (random weights; parity still holds,
   accuracy is unknown and the card says so).

Example:
>>> source = resolve_source("darts_v2", channels=4, layers=3, input_size=16)  # doctest: +SKIP
>>> source.trained
False
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

import keras


@dataclasses.dataclass
class ExportSource:
    """A network to export and what is known about it.

    Args:
        name: File and serving-folder name.
        network: The logits network (may hold tfnas layers; see `export.serving`).
        dataset: Dataset whose statistics and images apply.
        genotype: Canonical genotype string, when known.
        space: Search space of the genotype, when known.
        trained: Whether the weights were trained (False: random initialisation).
        accuracy: `{"top1", "split", "source"}` when a measured accuracy is known.
        provenance: Free-form facts (weights file and sha256, training command, source file).
    """

    name: str
    network: keras.Model
    dataset: str
    genotype: str | None = None
    space: str | None = None
    trained: bool = False
    accuracy: dict[str, Any] | None = None
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")
    return name[:80] or "model"


def resolve_source(
    spec: str,
    *,
    dataset: str | None = None,
    channels: int | None = None,
    layers: int | None = None,
    input_size: int | None = None,
    name: str | None = None,
) -> ExportSource:
    """Turns `--model` text into an `ExportSource`.

    Args:
        spec: A `.keras` path, a zoo name (with or without weights tag), a published genotype
            name, a canonical genotype string, genotype JSON or a JSON file path.
        dataset: Dataset of an untrained genotype network (default: `cifar10` for cell
            spaces, `imagenet` for the mobile space); for `.keras` files without a report,
            the dataset it was trained on (default `cifar10`).
        channels: Initial channels of an untrained cell network.
        layers: Cells of an untrained cell network.
        input_size: Input size of an untrained network.
        name: Output name (default: derived from `spec`).

    Returns:
        The resolved source.

    Raises:
        ValueError: when `spec` is none of the above (the message lists the zoo and
            published names), or options conflict with a trained source.
        FileNotFoundError: for a `.keras` path that does not exist.
    """
    from tfnas import applications

    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"--model must be a non-empty string. Received: {spec!r}")
    spec = spec.strip()
    structural = {"channels": channels, "layers": layers, "input_size": input_size}
    if spec.endswith(".keras"):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"No such .keras file: {spec}")
        _refuse_structural(spec, structural)
        return _from_keras_file(spec, dataset=dataset, name=name)
    if spec in applications.list_models(pretrained=True):
        _refuse_structural(spec, structural)
        card = applications.weights_card(spec)
        if dataset is not None and dataset != card["dataset"]:
            raise ValueError(f"{spec} was trained on {card['dataset']}; got dataset={dataset!r}.")
        network = applications.create_model(spec, classifier_activation=None)
        return ExportSource(
            name=name or _safe_name(spec),
            network=network,
            dataset=card["dataset"],
            genotype=card["genotype"],
            space=card["space"],
            trained=True,
            accuracy={"top1": card["test_accuracy"], "split": card["accuracy_split"], "source": "zoo weights card"},
            provenance={
                "zoo_name": spec,
                "weights_file": card["file"],
                "weights_sha256": card["sha256"],
                "training_command": card["command"],
                "training": card["training"],
            },
        )
    from tfnas.children import build_child
    from tfnas.genotypes import codec

    arch = applications.architecture_genotype(spec)
    try:
        genotype = codec.load(arch if arch is not None else spec)
    except (ValueError, KeyError) as err:
        raise ValueError(
            f"--model={spec[:120]!r} is not a .keras file, a zoo model "
            f"({', '.join(applications.list_models())}) or a genotype: {err}"
        ) from err
    default_dataset = "imagenet" if genotype.space == "mobile" else "cifar10"
    network = build_child(
        genotype,
        dataset=dataset or default_dataset,
        channels=channels,
        layers=layers,
        input_size=input_size,
    )
    label = spec if (arch is not None or spec in codec.PUBLISHED) else f"{genotype.space}_genotype"
    return ExportSource(
        name=name or _safe_name(label),
        network=network,
        dataset=dataset or default_dataset,
        genotype=genotype.to_string(),
        space=genotype.space,
        trained=False,
        accuracy=None,
        provenance={"built_from": spec if len(spec) < 500 else spec[:500] + "...", "weights": "random init"},
    )


def _refuse_structural(spec: str, options: dict[str, Any]) -> None:
    given = {k: v for k, v in options.items() if v is not None}
    if given:
        raise ValueError(
            f"{spec} fixes its own architecture; options {sorted(given)} apply only to a network "
            "built from a genotype. Drop them."
        )


def _from_keras_file(path: str, *, dataset: str | None, name: str | None) -> ExportSource:
    import tfnas.ops  # noqa: F401  (registers the custom layers a tfnas .keras file holds)

    network = keras.saving.load_model(path, compile=False)
    report_path = os.path.join(os.path.dirname(os.path.abspath(path)), "report.json")
    report: dict[str, Any] = {}
    if os.path.isfile(report_path):
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
    if dataset is not None and report.get("dataset") not in (None, dataset):
        raise ValueError(f"{path} was trained on {report['dataset']} (report.json); got dataset={dataset!r}.")
    accuracy = None
    if "test_accuracy" in report:
        accuracy = {"top1": report["test_accuracy"], "split": "test", "source": report_path}
    default_name = os.path.basename(os.path.dirname(os.path.abspath(path))) or "model"
    return ExportSource(
        name=name or _safe_name(default_name),
        network=network,
        dataset=report.get("dataset") or dataset or "cifar10",
        genotype=report.get("genotype"),
        space=report.get("space"),
        trained=True,
        accuracy=accuracy,
        provenance={"keras_file": os.path.abspath(path), "report": report_path if report else None},
    )
