"""`build_child(genotype)`: one entry point from any genotype to its Keras network."""

from __future__ import annotations

from typing import Any

import keras

from tfnas.genotypes.base import Genotype

#: Dataset name -> (native input size, classes).
DATASET_DEFAULTS: dict[str, tuple[int, int]] = {
    "cifar10": (32, 10),
    "cifar100": (32, 100),
    "digits": (32, 10),
    "imagenet": (224, 1000),
}


def dataset_defaults(dataset: str) -> tuple[int, int]:
    """`(input side, classes)` of a dataset: the table above, else the data catalog's spec
    (a registered dataset or a folder of the user's images, read from the data).

    Raises:
        ValueError: for a name that is neither.
    """
    if dataset in DATASET_DEFAULTS:
        return DATASET_DEFAULTS[dataset]
    from tfnas import data

    try:
        spec = data.get_dataset_spec(dataset)
    except KeyError:
        raise ValueError(f"Unknown dataset. Received: dataset={dataset!r}; known: {sorted(DATASET_DEFAULTS)}, "
                         f"a registered dataset, or a folder of images with one sub-folder per class") from None
    return spec.image_shape[0], spec.num_classes


def build_child(
    genotype: Genotype,
    *,
    dataset: str | None = None,
    channels: int | None = None,
    layers: int | None = None,
    input_size: int | None = None,
    num_classes: int | None = None,
    auxiliary: bool = False,
    drop_path_rate: float = 0.0,
    binarized: str | None = None,
) -> keras.Model:
    """Builds the network of `genotype` for a dataset.

    Arguments left as None take the space's and dataset's defaults: DARTS cells 36 channels
    and 20 cells on 32x32 inputs, 48 and 14 on ImageNet (224x224); NAS-Bench-201 16
    channels, 5 cells per stage; mobile block networks 224x224 on ImageNet (the default
    dataset of the mobile space) and the dataset's native size otherwise.

    Args:
        genotype: A DARTS, NAS-Bench-201 or mobile block genotype.
        dataset: `"cifar10"`, `"cifar100"`, `"digits"`, `"imagenet"`, a registered dataset or
            a folder of images (`dataset_defaults`); sets the input size, the class count and
            (DARTS) the stem.
        channels: Initial channels (cell spaces only).
        layers: Cells (DARTS) or cells per stage (NAS-Bench-201).
        input_size: Square input resolution.
        num_classes: Classifier width.
        auxiliary: Add the auxiliary head (DARTS networks); outputs become
            `[logits, aux_logits]`.
        drop_path_rate: Initial drop-path rate (DARTS networks; scheduled during training).
        binarized: None (float), `"weights"` (the cells' convolutions with XNOR-Net 1-bit
            weights), `"weights_activations"` (and sign activations) or `"pcnn"` (PCNN's
            projected 1-bit weights, arXiv 1811.12755), cell spaces only;
            the stem, auxiliary head and classifier stay float (`tfnas.ops.binary`, BNAS
            arXiv 1911.10862).

    Returns:
        A functional `keras.Model` returning logits (or `[logits, aux_logits]`).

    Raises:
        ValueError: for an unknown dataset, an option the space does not have, or a
            genotype of an unknown space.

    Example:
    >>> from tfnas.genotypes import codec
    >>> model = build_child(codec.load("darts_v2"), channels=16, layers=8)
    """
    space = getattr(genotype, "space", None)
    if dataset is None:
        dataset = "imagenet" if space == "mobile" else "cifar10"
    size, classes = dataset_defaults(dataset)
    input_shape = (input_size or size, input_size or size, 3)
    num_classes = num_classes or classes
    if isinstance(input_size, bool) or (input_size is not None and (not isinstance(input_size, int) or input_size < 1)):
        raise ValueError(f"input_size must be a positive int. Received: input_size={input_size!r}")
    reduction = {"darts": 32 if dataset == "imagenet" else 4, "nb201": 4}.get(space) or getattr(genotype, "reduction", 1)
    if input_shape[0] < reduction:
        raise ValueError(f"input_size={input_shape[0]} is smaller than the network's total downsampling ({reduction}x): "
                         f"its last feature maps would be under one pixel. Use input_size >= {reduction}.")
    if binarized is not None:
        from tfnas.ops import binary

        scope = binary.mode_scope(binarized)
        if space not in ("darts", "nb201"):
            raise ValueError(f"Binarized children exist for the cell spaces (darts, nb201); not for {space!r}.")
        with scope:
            return build_child(genotype, dataset=dataset, channels=channels, layers=layers, input_size=input_size,
                               num_classes=num_classes, auxiliary=auxiliary, drop_path_rate=drop_path_rate)
    if space == "darts":
        from tfnas.children.darts_net import build_darts_network

        kwargs: dict[str, Any] = {}
        if channels is not None:
            kwargs["channels"] = channels
        if layers is not None:
            kwargs["layers"] = layers
        return build_darts_network(
            genotype,
            dataset="imagenet" if dataset == "imagenet" else "cifar10",
            num_classes=num_classes,
            auxiliary=auxiliary,
            drop_path_rate=drop_path_rate,
            input_shape=input_shape,
            **kwargs,
        )
    if space == "nb201":
        from tfnas.children.nb201_net import build_nb201_network

        _refuse(space, auxiliary=auxiliary, drop_path_rate=drop_path_rate)
        return build_nb201_network(
            genotype,
            channels=channels or 16,
            cells_per_stage=layers or 5,
            num_classes=num_classes,
            input_shape=input_shape,
        )
    if space == "mobile":
        from tfnas.children.mobile_net import build_mobile_network

        _refuse(space, auxiliary=auxiliary, channels=channels, layers=layers)
        return build_mobile_network(
            genotype,
            input_shape=input_shape,
            num_classes=num_classes,
            drop_connect_rate=drop_path_rate,
        )
    raise ValueError(f"No child network for genotype space {space!r} ({type(genotype).__name__}).")


def _refuse(space: str, **options: Any) -> None:
    for name, value in options.items():
        if value:
            raise ValueError(f"The {space} space has no {name} option. Received: {name}={value!r}")
