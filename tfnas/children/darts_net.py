"""DARTS child networks (CIFAR and ImageNet-mobile) built from a `DartsGenotype`.

A functional Keras re-implementation of the reference evaluation networks (quark0/darts
`cnn/model.py`: `NetworkCIFAR`, `NetworkImageNet`, `Cell`, the auxiliary heads), made of
`keras.layers` primitives with deterministic names, so parameter counts match the
reference exactly (DARTS_V2: 3,349,342 on CIFAR-10 at 36 channels / 20 cells; 4,718,752 on
ImageNet at 48 channels / 14 cells, auxiliary heads excluded) and a MAdds counter can walk
the graph.

Layer names: `stem_*` (`stem0_*`, `stem1_*` on ImageNet), `cell{i:02d}_pre0_*`,
`cell{i:02d}_pre1_*` (input preprocessing), `cell{i:02d}_op{k}_*` (the k-th genotype edge),
`cell{i:02d}_op{k}_drop_path`, `cell{i:02d}_node{n}_add`, `cell{i:02d}_concat`, `aux_*` (the
auxiliary head), `global_pool`, `classifier`.

Differences from the reference, by design: the auxiliary logits are an output whenever
`auxiliary=True` (the reference computes them only in training mode), and the ImageNet
network ends with global average pooling, identical to the reference's 7x7 average pool
at 224x224 input.

References:
    - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.
"""

from __future__ import annotations

from typing import Any

import keras

from tfnas.genotypes.cell import DartsGenotype
from tfnas.ops import cell_ops
from tfnas.ops.drop_path import DropPath
from tfnas.spaces import darts as darts_space

#: dataset -> (default channels, default cells, default classes, default input size).
DATASETS: dict[str, tuple[int, int, int, int]] = {
    "cifar10": (36, 20, 10, 32),
    "cifar100": (36, 20, 100, 32),
    "imagenet": (48, 14, 1000, 224),
}


def _resolve_genotype(genotype: Any) -> DartsGenotype:
    if isinstance(genotype, str):
        from tfnas.genotypes import codec

        genotype = codec.load(genotype)
    if not isinstance(genotype, DartsGenotype):
        raise ValueError(
            "build_darts_network needs a DartsGenotype (or its string / published name). "
            f"Received: genotype={genotype!r}"
        )
    return genotype


def _cell(
    s0,
    s1,
    genotype: DartsGenotype,
    *,
    channels: int,
    reduction: bool,
    reduction_prev: bool,
    drop_path_rate: float,
    name: str,
):
    """One reference `Cell`: preprocess both inputs, 2 ops per node, concat."""
    if reduction_prev:
        s0 = cell_ops.factorized_reduce(s0, channels=channels, name=f"{name}_pre0")
    else:
        s0 = cell_ops.relu_conv_bn(s0, channels=channels, kernel_size=1, name=f"{name}_pre0")
    s1 = cell_ops.relu_conv_bn(s1, channels=channels, kernel_size=1, name=f"{name}_pre1")
    edges, concat = genotype.cell(reduction)
    states = [s0, s1]
    per_node = darts_space.EDGES_PER_NODE
    for step in range(len(edges) // per_node):
        branches = []
        for k in range(step * per_node, (step + 1) * per_node):
            op, index = edges[k]
            stride = 2 if reduction and index < darts_space.NUM_INPUTS else 1
            x = states[index]
            y = cell_ops.DARTS_OPS.get(op)(
                x, channels=channels, stride=stride, affine=True, name=f"{name}_op{k}"
            )
            if y is not x:  # every op but the identity gets drop-path, as the reference
                y = DropPath(drop_path_rate, name=f"{name}_op{k}_drop_path")(y)
            branches.append(y)
        node = darts_space.NUM_INPUTS + step
        states.append(keras.layers.Add(name=f"{name}_node{node}_add")(branches))
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([states[i] for i in concat])


def _auxiliary_head(x, *, num_classes: int, imagenet: bool):
    """Reference `AuxiliaryHeadCIFAR` (8x8 input) / `AuxiliaryHeadImageNet` (7x7 input)."""
    size = x.shape[1]
    minimum = 7 if imagenet else 8
    if size is not None and size < minimum:
        raise ValueError(
            f"The auxiliary head needs a feature map of at least {minimum}x{minimum} after cell "
            f"2*layers//3; got {size}x{size}. Use a larger input_shape or auxiliary=False."
        )
    x = keras.layers.ReLU(name="aux_relu0")(x)
    x = keras.layers.AveragePooling2D(5, strides=2 if imagenet else 3, name="aux_pool")(x)
    x = cell_ops.conv2d(x, 128, 1, name="aux_conv1")
    x = cell_ops.batch_norm(x, name="aux_bn1")
    x = keras.layers.ReLU(name="aux_relu1")(x)
    x = cell_ops.conv2d(x, 768, 2, name="aux_conv2")
    if not imagenet:  # the reference ImageNet head omits this BN ("typo", kept for parity)
        x = cell_ops.batch_norm(x, name="aux_bn2")
    x = keras.layers.ReLU(name="aux_relu2")(x)
    x = keras.layers.Flatten(name="aux_flatten")(x)
    return keras.layers.Dense(
        num_classes, kernel_initializer=cell_ops.KERNEL_INITIALIZER, name="aux_classifier"
    )(x)


def build_darts_network(
    genotype: DartsGenotype | str,
    *,
    dataset: str = "cifar10",
    channels: int | None = None,
    layers: int | None = None,
    num_classes: int | None = None,
    auxiliary: bool = False,
    drop_path_rate: float = 0.0,
    input_shape: tuple[int, int, int] | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds the DARTS evaluation network of a genotype as a functional Keras model.

    CIFAR (`dataset="cifar10"` or `"cifar100"`): stem conv 3x3 (3*C) + BN, `layers` cells
    with reduction cells (channels doubled, resolution halved) at `layers // 3` and
    `2 * layers // 3`, global average pooling, linear classifier. ImageNet: two stride-2
    stems (`stem0`: conv 3x3 s2 C/2, BN, ReLU, conv 3x3 s2 C, BN; `stem1`: ReLU, conv 3x3 s2
    C, BN), then the cells as above with the first cell's input 0 factorized-reduced.
    Every op output that is not an identity goes through a `DropPath` named
    `..._drop_path` with rate `drop_path_rate` (always present, so a callback can schedule
    the rate; inactive at inference).

    References:
        - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

    Args:
        genotype: A `DartsGenotype`, its canonical string, or a published name
            (`"darts_v2"`, ...).
        dataset: `"cifar10"`, `"cifar100"` or `"imagenet"`; picks the stem and defaults.
        channels: Initial channels C; default 36 (CIFAR) or 48 (ImageNet).
        layers: Number of cells; default 20 (CIFAR) or 14 (ImageNet).
        num_classes: Classifier width; default 10 / 100 / 1000.
        auxiliary: Add the auxiliary head after cell `2 * layers // 3`; the model then
            returns `[logits, aux_logits]`. Its layers are all named `aux_*`.
        drop_path_rate: Initial drop-path rate in `[0, 1)`.
        input_shape: `(height, width, 3)`; default 32x32 (CIFAR) or 224x224 (ImageNet).
        name: Model name; default `"darts_cifar"` or `"darts_imagenet"`.

    Returns:
        A `keras.Model` returning logits (no softmax), or `[logits, aux_logits]`.

    Raises:
        ValueError: for an unknown dataset, a non-positive `channels` or `layers`, an odd
            `channels` (FactorizedReduce halves it), a rate outside `[0, 1)`, an invalid
            genotype, or an input too small for the auxiliary head.

    Example:
    >>> from tfnas.genotypes.published_cells import DARTS_V2
    >>> model = build_darts_network(DARTS_V2, channels=8, layers=5, input_shape=(16, 16, 3))
    >>> model.output.shape
    (None, 10)
    """
    genotype = _resolve_genotype(genotype)
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset. Received: dataset={dataset!r}; known: {sorted(DATASETS)}")
    default_c, default_layers, default_classes, size = DATASETS[dataset]
    channels = default_c if channels is None else channels
    layers = default_layers if layers is None else layers
    num_classes = default_classes if num_classes is None else num_classes
    input_shape = (size, size, 3) if input_shape is None else tuple(input_shape)
    imagenet = dataset == "imagenet"
    for arg, value in (("channels", channels), ("layers", layers), ("num_classes", num_classes)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{arg} must be a positive int. Received: {arg}={value!r}")
    if channels % 2:
        raise ValueError(f"channels must be even (FactorizedReduce halves it). Received: channels={channels}")
    if not 0.0 <= float(drop_path_rate) < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1). Received: drop_path_rate={drop_path_rate}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels). Received: input_shape={input_shape}")

    inputs = keras.Input(shape=input_shape, name="input")
    if imagenet:
        x = cell_ops.conv2d(inputs, channels // 2, 3, stride=2, name="stem0_conv1")
        x = cell_ops.batch_norm(x, name="stem0_bn1")
        x = keras.layers.ReLU(name="stem0_relu")(x)
        x = cell_ops.conv2d(x, channels, 3, stride=2, name="stem0_conv2")
        s0 = cell_ops.batch_norm(x, name="stem0_bn2")
        x = keras.layers.ReLU(name="stem1_relu")(s0)
        x = cell_ops.conv2d(x, channels, 3, stride=2, name="stem1_conv")
        s1 = cell_ops.batch_norm(x, name="stem1_bn")
        c_curr, reduction_prev = channels, True
    else:
        x = cell_ops.conv2d(inputs, 3 * channels, 3, name="stem_conv")
        s0 = s1 = cell_ops.batch_norm(x, name="stem_bn")
        c_curr, reduction_prev = channels, False

    aux_logits = None
    reductions = (layers // 3, 2 * layers // 3)
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            c_curr *= 2
        out = _cell(
            s0,
            s1,
            genotype,
            channels=c_curr,
            reduction=reduction,
            reduction_prev=reduction_prev,
            drop_path_rate=float(drop_path_rate),
            name=f"cell{i:02d}",
        )
        s0, s1 = s1, out
        reduction_prev = reduction
        if auxiliary and i == 2 * layers // 3:
            aux_logits = _auxiliary_head(s1, num_classes=num_classes, imagenet=imagenet)

    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(s1)
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=cell_ops.KERNEL_INITIALIZER, name="classifier"
    )(x)
    outputs = [logits, aux_logits] if auxiliary else logits
    return keras.Model(inputs, outputs, name=name or ("darts_imagenet" if imagenet else "darts_cifar"))
