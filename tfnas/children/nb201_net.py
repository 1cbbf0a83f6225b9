"""NAS-Bench-201 child networks (the benchmark's `TinyNetwork`) from an `NB201Genotype`.

A functional Keras re-implementation of D-X-Y/AutoDL-Projects `TinyNetwork` /
`InferCell` / `ResNetBasicblock`: stem conv 3x3 + BN, three stages of N cells (16, 32, 64
channels by default) with a residual reduction block between stages, BN + ReLU, global
average pooling and a linear classifier. Parameter counts equal the reference (e.g.
1,531,546 for the all-`nor_conv_3x3` cell at C=16, N=5, 10 classes).

Every edge is built, `none` included (as a `Zero` layer): an op fed by an all-zero node
still adds its BatchNorm shift, as in the reference, so dropping such edges would change
the function.

Layer names: `stem_*`, `cell{i:02d}_e{j}{node}_*` (edge j -> node), `cell{i:02d}_node{n}_add`,
`cell{i:02d}_*` for the reduction blocks (`_conv_a`, `_conv_b`, `_down_*`), `lastact_*`,
`global_pool`, `classifier`.

References:
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.
"""

from __future__ import annotations


import keras

from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.ops import cell_ops
from tfnas.spaces import nb201 as nb201_space


def infer_cell(x, genotype: NB201Genotype, *, channels: int, name: str):
    """One NB201 cell (`InferCell`) of `genotype` on `x`: every edge's op, summed per node."""
    nodes = [x]
    for node in range(1, nb201_space.NUM_NODES):
        terms = []
        for op, (target, j) in zip(genotype.ops, nb201_space.EDGES):
            if target != node:
                continue
            terms.append(
                cell_ops.NB201_OPS.get(op)(
                    nodes[j], channels=channels, stride=1, affine=True, name=f"{name}_e{j}{node}"
                )
            )
        nodes.append(
            terms[0] if len(terms) == 1 else keras.layers.Add(name=f"{name}_node{node}_add")(terms)
        )
    return nodes[-1]


def build_nb201_network(
    genotype: NB201Genotype | str,
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    name: str | None = None,
) -> keras.Model:
    """Builds the NAS-Bench-201 network of a cell as a functional Keras model.

    References:
        - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

    Args:
        genotype: An `NB201Genotype` or its architecture string.
        channels: Channels of the first stage (doubled at each of the two reductions).
        cells_per_stage: Cells N per stage (3N cells + 2 reduction blocks).
        num_classes: Classifier width.
        input_shape: `(height, width, channels)`.
        name: Model name; default `"nb201"`.

    Returns:
        A `keras.Model` returning logits (no softmax).

    Raises:
        ValueError: for an invalid genotype or a non-positive size argument.

    Example:
    >>> model = build_nb201_network(
    ...     "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    ...     channels=4, cells_per_stage=1, input_shape=(8, 8, 3))
    >>> model.output.shape
    (None, 10)
    """
    if isinstance(genotype, str):
        genotype = NB201Genotype.from_string(genotype)
    if not isinstance(genotype, NB201Genotype):
        raise ValueError(
            f"build_nb201_network needs an NB201Genotype or its string. Received: genotype={genotype!r}"
        )
    for arg, value in (
        ("channels", channels), ("cells_per_stage", cells_per_stage), ("num_classes", num_classes)
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{arg} must be a positive int. Received: {arg}={value!r}")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels). Received: input_shape={input_shape}")

    inputs = keras.Input(shape=input_shape, name="input")
    x = cell_ops.conv2d(inputs, channels, 3, name="stem_conv")
    x = cell_ops.batch_norm(x, name="stem_bn")
    stage_channels = [channels] * cells_per_stage + [2 * channels] + [2 * channels] * cells_per_stage
    stage_channels += [4 * channels] + [4 * channels] * cells_per_stage
    reductions = [False] * cells_per_stage + [True] + [False] * cells_per_stage
    reductions += [True] + [False] * cells_per_stage
    for i, (c, reduction) in enumerate(zip(stage_channels, reductions)):
        if reduction:
            x = cell_ops.resnet_basic_block(x, channels=c, stride=2, name=f"cell{i:02d}")
        else:
            x = infer_cell(x, genotype, channels=c, name=f"cell{i:02d}")
    x = cell_ops.batch_norm(x, name="lastact_bn")
    x = keras.layers.ReLU(name="lastact_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = keras.layers.Dense(
        num_classes, kernel_initializer=cell_ops.KERNEL_INITIALIZER, name="classifier"
    )(x)
    return keras.Model(inputs, logits, name=name or "nb201")
