"""Mobile child networks: a `BlockGenotype` -> a functional Keras model of primitives.

Layer names (deterministic, so weights load by name): `stem_conv`, `stem_bn`, `stem_act`;
block `j` (1-based, zero blocks counted) of stage `i` (1-based) has the prefix
`stage{i}_block{j}` with the parts of `tfnas.ops.mbconv`; `head_conv`, `head_bn`, `head_act`;
`avg_pool`, `top_dropout`, `predictions` (logits).

References:
    MobileNetV2 (arXiv 1801.04381), MnasNet (arXiv 1807.11626), ProxylessNAS (arXiv
    1812.00332), FBNet (arXiv 1812.03443), EfficientNet (arXiv 1905.11946).

Example:
>>> from tfnas.genotypes.block import BlockGenotype
>>> g = BlockGenotype.from_string("stem=8;blocks=ds_r1_k3_s1_c8|ir_r2_k5_s2_e3_c16_se0.25;head=32")
>>> model = build_mobile_network(g, input_shape=(32, 32, 3), num_classes=10)
>>> tuple(model.output.shape)
(None, 10)
"""

from __future__ import annotations

import keras

from tfnas.genotypes.block import BlockGenotype, MobileLayer
from tfnas.ops import mbconv


def _build_layer(x, layer: MobileLayer, genotype: BlockGenotype, drop_connect_rate: float, name: str):
    spec = layer.spec
    common = dict(
        kernel_size=spec.kernel,
        strides=spec.stride,
        activation=genotype.activation_of(spec),
        skip=spec.skip,
        drop_connect_rate=drop_connect_rate,
        bn_eps=genotype.bn_eps,
        bn_momentum=genotype.bn_momentum,
        name=name,
    )
    se = dict(
        se_ratio=spec.se_ratio,
        se_base=genotype.se_base,
        se_activation=None if genotype.se_act == "block" else genotype.se_act,
        se_gate=genotype.se_gate,
    )
    if spec.block_type == "ir":
        return mbconv.inverted_residual(x, spec.out_channels, expansion=spec.expansion, **se, **common)
    if spec.block_type == "ds":
        return mbconv.depthwise_separable(x, spec.out_channels, **se, **common)
    if spec.block_type == "cn":
        return mbconv.conv_block(x, spec.out_channels, **common)
    raise ValueError(f"Unknown block type {spec.block_type!r} in layer {name}.")


def build_mobile_network(
    genotype: BlockGenotype,
    *,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    num_classes: int = 1000,
    include_top: bool = True,
    pooling: str | None = None,
    dropout_rate: float | None = None,
    drop_connect_rate: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """Builds the mobile network a `BlockGenotype` describes.

    Stem conv 3x3 stride 2 + BN + act, the stages (zero blocks add nothing), head conv 1x1
    + BN + act (if `genotype.head`), then with `include_top` global average pooling,
    dropout and a Dense classifier that outputs logits. Drop-connect grows linearly over
    the non-zero blocks as in `keras.applications.EfficientNet`: block `b` of `n` uses
    `drop_connect_rate * b / n`.

    Args:
        genotype: The architecture.
        input_shape: Input shape, HWC.
        num_classes: Classifier width (with `include_top`).
        include_top: Whether to add pooling, dropout and the classifier.
        pooling: Without top: None (4D features), `"avg"` or `"max"`.
        dropout_rate: Classifier dropout; None = `genotype.dropout`.
        drop_connect_rate: Maximum drop-path rate on residual branches, in [0, 1).
        name: Model name; defaults to `"mobile_net"`.

    Returns:
        A functional `keras.Model` of primitive layers.

    Raises:
        ValueError: naming the bad argument.

    Example:
    >>> from tfnas.genotypes.codec import load
    >>> import tfnas.genotypes.published_blocks
    >>> model = build_mobile_network(load("mobilenet_v2"))
    """
    if not isinstance(genotype, BlockGenotype):
        raise ValueError(f"genotype must be a BlockGenotype. Received: genotype={genotype!r}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels). Received: input_shape={input_shape!r}")
    if include_top and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be an int >= 1. Received: num_classes={num_classes!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if dropout_rate is None:
        dropout_rate = genotype.dropout
    if not 0.0 <= float(dropout_rate) < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1). Received: dropout_rate={dropout_rate!r}")
    if not 0.0 <= float(drop_connect_rate) < 1.0:
        raise ValueError(f"drop_connect_rate must be in [0, 1). Received: drop_connect_rate={drop_connect_rate!r}")

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = mbconv.conv_bn_act(
        inputs,
        genotype.stem,
        3,
        2,
        activation=genotype.act,
        bn_eps=genotype.bn_eps,
        bn_momentum=genotype.bn_momentum,
        name="stem",
    )
    layers = genotype.layers()
    active = [layer for layer in layers if not layer.spec.is_zero]
    b = 0
    for layer in layers:
        if layer.spec.is_zero:
            continue
        rate = float(drop_connect_rate) * b / len(active)
        x = _build_layer(x, layer, genotype, rate, f"stage{layer.stage + 1}_block{layer.index + 1}")
        b += 1
    if genotype.head:
        x = mbconv.conv_bn_act(
            x,
            genotype.head,
            1,
            activation=genotype.act,
            bn_eps=genotype.bn_eps,
            bn_momentum=genotype.bn_momentum,
            name="head",
        )
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = keras.layers.Dropout(float(dropout_rate), name="top_dropout")(x)
        x = keras.layers.Dense(num_classes, name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return keras.Model(inputs, x, name=name or "mobile_net")
