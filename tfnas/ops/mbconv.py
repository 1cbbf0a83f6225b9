"""MBConv-family blocks as functional builders on Keras primitives.

Every builder takes a symbolic tensor and returns one, adding only primitive Keras layers
(`Conv2D`, `DepthwiseConv2D`, `BatchNormalization`, `Activation`, `GlobalAveragePooling2D`,
`Multiply`, `Add`) plus `tfnas.ops.drop_path.DropPath` for drop-connect, so a MAdds
counter that walks a functional model's layers sees every multiply-add, and weights load
by name: every layer is named `f"{name}_<part>"` with a fixed `<part>` (below).

Layer names of one block with prefix `name`:
    `_expand_conv`, `_expand_bn`, `_expand_act` (inverted residual only),
    `_dw_conv`, `_dw_bn`, `_dw_act`,
    `_se_pool`, `_se_reduce`, `_se_act`, `_se_expand`, `_se_gate`, `_se_scale` (with SE),
    `_project_conv`, `_project_bn`, `_drop` (drop-connect > 0), `_add` (residual);
    a plain conv block: `_conv`, `_bn`, `_act`.

Convolutions use `padding="same"` and no bias (BN follows); the SE convs have biases.

References:
    MobileNetV2 (arXiv 1801.04381), MnasNet (arXiv 1807.11626), EfficientNet
    (arXiv 1905.11946), Squeeze-and-Excitation (arXiv 1709.01507).

Example:
>>> import keras
>>> x = keras.Input((32, 32, 16))
>>> y = inverted_residual(x, out_channels=16, kernel_size=5, expansion=6, se_ratio=0.25, name="b0")
>>> tuple(y.shape)
(None, 32, 32, 16)
"""

from __future__ import annotations

import keras

from tfnas.ops.drop_path import DropPath

#: tfnas activation name -> Keras activation identifier.
KERAS_ACTIVATIONS = {
    "relu": "relu",
    "relu6": "relu6",
    "swish": "silu",
    "hswish": "hard_silu",
    "sigmoid": "sigmoid",
    "hsigmoid": "hard_sigmoid",
}


def _keras_activation(activation: str, argname: str = "activation") -> str:
    try:
        return KERAS_ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(
            f"{argname} must be one of {', '.join(KERAS_ACTIVATIONS)}. Received: {argname}={activation!r}"
        ) from None


def _check_positive_int(value: int, argname: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argname} must be an int >= 1. Received: {argname}={value!r}")


def _bn(x, *, bn_eps: float, bn_momentum: float, name: str):
    return keras.layers.BatchNormalization(epsilon=bn_eps, momentum=bn_momentum, name=name)(x)


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    *,
    activation: str | None = "relu",
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str,
):
    """Conv2D (no bias, same padding) + BatchNormalization + optional activation.

    Args:
        x: Input tensor, NHWC.
        filters: Output channels.
        kernel_size: Square kernel size.
        strides: Stride.
        activation: tfnas activation name, or None for a linear output.
        bn_eps: BatchNormalization epsilon.
        bn_momentum: BatchNormalization momentum (Keras convention).
        name: Prefix of the layer names (`_conv`, `_bn`, `_act`).

    Returns:
        The output tensor.

    Raises:
        ValueError: for a non-positive `filters` or an unknown `activation`.

    Example:
    >>> y = conv_bn_act(keras.Input((8, 8, 3)), 4, 3, 2, name="stem")
    """
    _check_positive_int(filters, "filters")
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = _bn(x, bn_eps=bn_eps, bn_momentum=bn_momentum, name=f"{name}_bn")
    if activation is not None:
        x = keras.layers.Activation(_keras_activation(activation), name=f"{name}_act")(x)
    return x


def squeeze_excite(
    x,
    se_filters: int,
    *,
    activation: str = "relu",
    gate: str = "sigmoid",
    name: str,
):
    """Squeeze-and-excitation from primitives: pool, 1x1 reduce + act, 1x1 expand + gate, scale.

    Args:
        x: Input tensor, NHWC.
        se_filters: Width of the squeezed representation.
        activation: tfnas activation after the reduce conv.
        gate: `"sigmoid"` or `"hsigmoid"`.
        name: Prefix of the layer names (`_pool`, `_reduce`, `_act`, `_expand`, `_gate`, `_scale`).

    Returns:
        `x` rescaled channel-wise.

    Raises:
        ValueError: for a non-positive `se_filters` or an unknown `activation`/`gate`.

    Example:
    >>> y = squeeze_excite(keras.Input((8, 8, 16)), 4, name="se")
    """
    _check_positive_int(se_filters, "se_filters")
    if gate not in ("sigmoid", "hsigmoid"):
        raise ValueError(f"gate must be 'sigmoid' or 'hsigmoid'. Received: gate={gate!r}")
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    s = keras.layers.Conv2D(se_filters, 1, use_bias=True, name=f"{name}_reduce")(s)
    s = keras.layers.Activation(_keras_activation(activation), name=f"{name}_act")(s)
    s = keras.layers.Conv2D(channels, 1, use_bias=True, name=f"{name}_expand")(s)
    s = keras.layers.Activation(_keras_activation(gate, "gate"), name=f"{name}_gate")(s)
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])


def se_width(in_channels: int, mid_channels: int, se_ratio: float, se_base: str = "in") -> int:
    """Returns the SE width: `max(1, int(base * se_ratio))`, base the input or expanded width.

    Raises:
        ValueError: if `se_base` is not `"in"` or `"mid"`.
    """
    if se_base not in ("in", "mid"):
        raise ValueError(f"se_base must be 'in' or 'mid'. Received: se_base={se_base!r}")
    base = in_channels if se_base == "in" else mid_channels
    return max(1, int(base * se_ratio))


def _finish(x, shortcut, *, residual: bool, drop_connect_rate: float, name: str):
    if not residual:
        return x
    if drop_connect_rate > 0:
        x = DropPath(drop_connect_rate, name=f"{name}_drop")(x)
    return keras.layers.Add(name=f"{name}_add")([x, shortcut])


def _check_common(kernel_size: int, strides: int, drop_connect_rate: float, se_ratio: float) -> None:
    _check_positive_int(kernel_size, "kernel_size")
    if strides not in (1, 2):
        raise ValueError(f"strides must be 1 or 2. Received: strides={strides!r}")
    if not 0.0 <= float(drop_connect_rate) < 1.0:
        raise ValueError(f"drop_connect_rate must be in [0, 1). Received: drop_connect_rate={drop_connect_rate!r}")
    if not 0.0 <= float(se_ratio) <= 1.0:
        raise ValueError(f"se_ratio must be in [0, 1]. Received: se_ratio={se_ratio!r}")


def inverted_residual(
    x,
    out_channels: int,
    *,
    kernel_size: int = 3,
    strides: int = 1,
    expansion: float = 6,
    se_ratio: float = 0.0,
    se_base: str = "in",
    activation: str = "relu6",
    se_activation: str | None = None,
    se_gate: str = "sigmoid",
    skip: bool | None = None,
    drop_connect_rate: float = 0.0,
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str,
):
    """MBConv / inverted residual block.

    1x1 expand + BN + act (always present, also at expansion 1, as in FBNet), kxk depthwise
    + BN + act, optional SE, 1x1 linear project + BN, and a residual (with optional
    drop-connect) when `strides == 1`, the widths match and `skip` is not False.

    Args:
        x: Input tensor, NHWC.
        out_channels: Output width.
        kernel_size: Depthwise kernel size.
        strides: Depthwise stride, 1 or 2.
        expansion: Expanded width = `round(in_channels * expansion)`.
        se_ratio: SE ratio, 0 for none.
        se_base: SE width counted from the input (`"in"`) or expanded (`"mid"`) width.
        activation: tfnas activation of the expand and depthwise convs.
        se_activation: SE activation; None = `activation`.
        se_gate: `"sigmoid"` or `"hsigmoid"`.
        skip: False disables the residual (`noskip`); None/True keep the default rule.
        drop_connect_rate: Drop-path rate on the residual branch.
        bn_eps: BatchNormalization epsilon.
        bn_momentum: BatchNormalization momentum (Keras convention).
        name: Layer-name prefix.

    Returns:
        The output tensor.

    Raises:
        ValueError: naming the bad argument.

    Example:
    >>> y = inverted_residual(keras.Input((8, 8, 16)), 24, strides=2, name="b1")
    """
    _check_common(kernel_size, strides, drop_connect_rate, se_ratio)
    _check_positive_int(out_channels, "out_channels")
    if not float(expansion) > 0:
        raise ValueError(f"expansion must be > 0. Received: expansion={expansion!r}")
    in_channels = x.shape[-1]
    mid = int(round(in_channels * float(expansion)))
    shortcut = x
    y = conv_bn_act(
        x, mid, 1, activation=activation, bn_eps=bn_eps, bn_momentum=bn_momentum, name=f"{name}_expand"
    )
    y = _depthwise_se_project(
        y,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernel_size,
        strides=strides,
        se_ratio=se_ratio,
        se_base=se_base,
        activation=activation,
        se_activation=se_activation,
        se_gate=se_gate,
        bn_eps=bn_eps,
        bn_momentum=bn_momentum,
        name=name,
    )
    residual = strides == 1 and in_channels == out_channels and skip is not False
    return _finish(y, shortcut, residual=residual, drop_connect_rate=drop_connect_rate, name=name)


def depthwise_separable(
    x,
    out_channels: int,
    *,
    kernel_size: int = 3,
    strides: int = 1,
    se_ratio: float = 0.0,
    se_base: str = "in",
    activation: str = "relu6",
    se_activation: str | None = None,
    se_gate: str = "sigmoid",
    skip: bool | None = None,
    drop_connect_rate: float = 0.0,
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str,
):
    """Depthwise-separable block: kxk depthwise + BN + act, optional SE, 1x1 linear project + BN.

    The expansion-1 block of MobileNetV2, MnasNet and EfficientNet (no expand conv). Residual
    as in `inverted_residual`.

    Args:
        x: Input tensor, NHWC.
        out_channels: Output width.
        kernel_size: Depthwise kernel size.
        strides: Depthwise stride, 1 or 2.
        se_ratio: SE ratio, 0 for none (SE width from the input width either way).
        se_base: `"in"` or `"mid"` (the same here: the block does not expand).
        activation: tfnas activation after the depthwise conv.
        se_activation: SE activation; None = `activation`.
        se_gate: `"sigmoid"` or `"hsigmoid"`.
        skip: False disables the residual.
        drop_connect_rate: Drop-path rate on the residual branch.
        bn_eps: BatchNormalization epsilon.
        bn_momentum: BatchNormalization momentum (Keras convention).
        name: Layer-name prefix.

    Returns:
        The output tensor.

    Raises:
        ValueError: naming the bad argument.

    Example:
    >>> y = depthwise_separable(keras.Input((8, 8, 32)), 16, name="b0")
    """
    _check_common(kernel_size, strides, drop_connect_rate, se_ratio)
    _check_positive_int(out_channels, "out_channels")
    in_channels = x.shape[-1]
    y = _depthwise_se_project(
        x,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernel_size,
        strides=strides,
        se_ratio=se_ratio,
        se_base=se_base,
        activation=activation,
        se_activation=se_activation,
        se_gate=se_gate,
        bn_eps=bn_eps,
        bn_momentum=bn_momentum,
        name=name,
    )
    residual = strides == 1 and in_channels == out_channels and skip is not False
    return _finish(y, x, residual=residual, drop_connect_rate=drop_connect_rate, name=name)


def conv_block(
    x,
    out_channels: int,
    *,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str = "relu",
    skip: bool | None = None,
    drop_connect_rate: float = 0.0,
    bn_eps: float = 1e-3,
    bn_momentum: float = 0.99,
    name: str,
):
    """Plain conv block (`cn`): kxk conv + BN + act, residual only when `skip` is True.

    Args:
        x: Input tensor, NHWC.
        out_channels: Output width.
        kernel_size: Kernel size.
        strides: Stride, 1 or 2.
        activation: tfnas activation.
        skip: True adds a residual (needs stride 1 and matching widths).
        drop_connect_rate: Drop-path rate on the residual branch.
        bn_eps: BatchNormalization epsilon.
        bn_momentum: BatchNormalization momentum (Keras convention).
        name: Layer-name prefix.

    Returns:
        The output tensor.

    Raises:
        ValueError: naming the bad argument, or if `skip` is True where shapes differ.

    Example:
    >>> y = conv_block(keras.Input((8, 8, 8)), 8, skip=True, name="c0")
    """
    _check_common(kernel_size, strides, drop_connect_rate, 0.0)
    in_channels = x.shape[-1]
    if skip and (strides != 1 or in_channels != out_channels):
        raise ValueError(
            f"skip=True needs strides=1 and in_channels == out_channels. "
            f"Received: strides={strides}, in_channels={in_channels}, out_channels={out_channels}"
        )
    y = conv_bn_act(
        x, out_channels, kernel_size, strides, activation=activation, bn_eps=bn_eps,
        bn_momentum=bn_momentum, name=name,
    )
    return _finish(y, x, residual=bool(skip), drop_connect_rate=drop_connect_rate, name=name)


def _depthwise_se_project(
    x,
    *,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    strides: int,
    se_ratio: float,
    se_base: str,
    activation: str,
    se_activation: str | None,
    se_gate: str,
    bn_eps: float,
    bn_momentum: float,
    name: str,
):
    mid = x.shape[-1]
    y = keras.layers.DepthwiseConv2D(
        kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_dw_conv"
    )(x)
    y = _bn(y, bn_eps=bn_eps, bn_momentum=bn_momentum, name=f"{name}_dw_bn")
    y = keras.layers.Activation(_keras_activation(activation), name=f"{name}_dw_act")(y)
    if se_ratio:
        y = squeeze_excite(
            y,
            se_width(in_channels, mid, se_ratio, se_base),
            activation=se_activation or activation,
            gate=se_gate,
            name=f"{name}_se",
        )
    y = keras.layers.Conv2D(out_channels, 1, padding="same", use_bias=False, name=f"{name}_project_conv")(y)
    return _bn(y, bn_eps=bn_eps, bn_momentum=bn_momentum, name=f"{name}_project_bn")
