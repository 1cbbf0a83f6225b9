"""Candidate ops of the DARTS and NAS-Bench-201 cell spaces, as functional-graph builders.

Every builder takes a Keras tensor and returns one, creating `keras.layers` primitives named
`f"{name}_{part}"` (deterministic, so weights load by name). Two op registries map an op
name to its builder, all with one keyword signature:

- `DARTS_OPS[op](x, *, channels, stride, affine=True, pool_bn=False, name)`: the DARTS
  ops (`tfnas.spaces.darts.OPS`). `affine` is the BatchNorm affine flag (False in the
  search supernet, True in child networks); `pool_bn=True` puts a non-affine BatchNorm
  after the pooling ops, as the reference search `MixedOp` does (never in children).
- `NB201_OPS[op](x, *, channels, stride, affine=True, name)`: the NAS-Bench-201 ops.

Semantics follow the reference PyTorch code (quark0/darts `cnn/operations.py`,
D-X-Y/AutoDL-Projects `cell_operations.py`): convolutions without bias, BatchNorm with
PyTorch's momentum 0.1 (Keras `momentum=0.9`) and epsilon 1e-5, symmetric zero padding
(strided convolutions pad explicitly, as PyTorch does, instead of TensorFlow's asymmetric
"same"), pooling with `count_include_pad=False`. Stride-2 pooling uses
`SymmetricPooling2D` for the same reason; a stride-2 dilated depthwise convolution (which
TensorFlow cannot run) is computed exactly as an even-pixel subsample followed by the
undilated convolution with the same kernel.

References:
    - Liu et al., DARTS, arXiv 1806.09055.
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

Example:
>>> x = keras.Input((16, 16, 8))
>>> y = DARTS_OPS.get("sep_conv_3x3")(x, channels=8, stride=2, name="op")
>>> tuple(y.shape)
(None, 8, 8, 8)
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import keras
from keras import ops

from tfnas.ops.binary import BinaryConv2D, BinaryDepthwiseConv2D, activations_binarized, active, layer_arguments
from tfnas.registry import Registry

#: PyTorch's default Conv2d/Linear kernel initialisation (kaiming_uniform, a=sqrt(5)).
KERNEL_INITIALIZER: dict[str, Any] = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0 / 3.0, "mode": "fan_in", "distribution": "uniform"},
}
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5

OpBuilder = Callable[..., Any]

#: DARTS op name -> builder `(x, *, channels, stride, affine, pool_bn, name)`.
DARTS_OPS: Registry[OpBuilder] = Registry("DARTS op")
#: NAS-Bench-201 op name -> builder `(x, *, channels, stride, affine, name)`.
NB201_OPS: Registry[OpBuilder] = Registry("NAS-Bench-201 op")


# ---------------------------------------------------------------------- custom layers
@keras.saving.register_keras_serializable(package="tfnas")
class SymmetricPooling2D(keras.layers.Layer):
    """3x3-style pooling with PyTorch's symmetric padding, padded cells excluded.

    Equivalent to `torch.nn.MaxPool2d(k, stride, padding=(k-1)//2)` and
    `torch.nn.AvgPool2d(k, stride, padding=(k-1)//2, count_include_pad=False)`. For stride 1
    this equals Keras's `padding="same"` pooling; for stride 2 on even inputs TensorFlow's
    "same" pads only bottom/right, which shifts the window grid, hence this layer.

    Args:
        mode: `"max"` or `"avg"`.
        pool_size: Odd window size.
        strides: Stride.

    Example:
    >>> y = SymmetricPooling2D("avg", 3, 2)(keras.ops.ones((1, 4, 4, 2)))
    """

    def __init__(self, mode: str, pool_size: int = 3, strides: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg'. Received: mode={mode!r}")
        if not isinstance(pool_size, int) or pool_size < 1 or pool_size % 2 == 0:
            raise ValueError(f"pool_size must be a positive odd int. Received: pool_size={pool_size!r}")
        if not isinstance(strides, int) or strides < 1:
            raise ValueError(f"strides must be a positive int. Received: strides={strides!r}")
        self.mode = mode
        self.pool_size = pool_size
        self.strides = strides

    def call(self, x):
        p = (self.pool_size - 1) // 2
        pads = [[0, 0], [p, p], [p, p], [0, 0]]
        if self.mode == "max":
            padded = ops.pad(x, pads, constant_values=float("-inf"))
            return ops.max_pool(padded, self.pool_size, self.strides, padding="valid")
        total = ops.average_pool(ops.pad(x, pads), self.pool_size, self.strides, padding="valid")
        count = ops.average_pool(
            ops.pad(ops.ones_like(x[..., :1]), pads), self.pool_size, self.strides, padding="valid"
        )
        return total / count

    def compute_output_shape(self, input_shape):
        def out(size):
            if size is None:
                return None
            return (size - 1) // self.strides + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

    def count_madds(self, input_shapes, output_shapes) -> int:
        """0: pooling is not counted, as for Keras pooling layers in `tfnas.budgets`."""
        return 0

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"mode": self.mode, "pool_size": self.pool_size, "strides": self.strides})
        return config


@keras.saving.register_keras_serializable(package="tfnas")
class Zero(keras.layers.Layer):
    """The `none` op: zeros shaped like the (strided) input, optionally with new channels.

    Args:
        strides: Spatial stride (the output is `x[:, ::s, ::s]`-shaped).
        channels: Output channels; None keeps the input's.

    Example:
    >>> tuple(Zero(2)(keras.ops.ones((1, 4, 4, 3))).shape)
    (1, 2, 2, 3)
    """

    def __init__(self, strides: int = 1, channels: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(strides, int) or strides < 1:
            raise ValueError(f"strides must be a positive int. Received: strides={strides!r}")
        if channels is not None and (not isinstance(channels, int) or channels < 1):
            raise ValueError(f"channels must be a positive int or None. Received: channels={channels!r}")
        self.strides = strides
        self.channels = channels

    def call(self, x):
        x = x[:, :: self.strides, :: self.strides, :]
        if self.channels is None or self.channels == x.shape[-1]:
            return ops.zeros_like(x)
        return ops.zeros_like(x[..., :1]) * ops.zeros((self.channels,), dtype=x.dtype)

    def compute_output_shape(self, input_shape):
        def out(size):
            return None if size is None else (size - 1) // self.strides + 1

        channels = input_shape[3] if self.channels is None else self.channels
        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), channels)

    def count_madds(self, input_shapes, output_shapes) -> int:
        return 0

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"strides": self.strides, "channels": self.channels})
        return config


# ---------------------------------------------------------------------- primitives
def _check(name: str, channels: int, stride: int) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string prefix. Received: name={name!r}")
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise ValueError(f"channels must be a positive int. Received: channels={channels!r}")
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2. Received: stride={stride!r}")


def batch_norm(x, *, affine: bool = True, name: str):
    """BatchNorm with PyTorch's defaults; `affine` maps to Keras `center`/`scale`."""
    return keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, center=affine, scale=affine, name=name
    )(x)


def conv2d(x, filters: int, kernel_size: int, *, stride: int = 1, dilation: int = 1, name: str):
    """Bias-free Conv2D with PyTorch's symmetric padding `dilation * (k - 1) // 2`."""
    pad = dilation * (kernel_size - 1) // 2
    if stride > 1 and pad:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    binary = layer_arguments() if active(name) else None
    return (BinaryConv2D if binary is not None else keras.layers.Conv2D)(
        filters,
        kernel_size,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        dilation_rate=dilation,
        use_bias=False,
        kernel_initializer=KERNEL_INITIALIZER,
        name=name,
        **(binary or {}),
    )(x)


def depthwise_conv2d(x, kernel_size: int, *, stride: int = 1, dilation: int = 1, name: str):
    """Bias-free depthwise conv, PyTorch padding; stride 2 with dilation 2 done exactly
    as an even-pixel subsample followed by the undilated kernel."""
    if stride > 1 and dilation > 1:
        if dilation != stride:
            raise ValueError(
                f"A strided dilated depthwise conv needs dilation == stride. "
                f"Received: stride={stride}, dilation={dilation}"
            )
        x = keras.layers.MaxPooling2D(pool_size=1, strides=stride, name=f"{name}_subsample")(x)
        stride, dilation = 1, 1
    pad = dilation * (kernel_size - 1) // 2
    if stride > 1 and pad:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    binary = layer_arguments() if active(name) else None
    return (BinaryDepthwiseConv2D if binary is not None else keras.layers.DepthwiseConv2D)(
        kernel_size,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        dilation_rate=dilation,
        use_bias=False,
        depthwise_initializer=KERNEL_INITIALIZER,
        name=name,
        **(binary or {}),
    )(x)


def relu(x, *, name: str):
    """A named ReLU layer; none where binarized activations follow (their sign is the nonlinearity)."""
    if activations_binarized() and active(name):
        return x
    return keras.layers.ReLU(name=name)(x)


# ---------------------------------------------------------------------- composite ops
def relu_conv_bn(
    x, *, channels: int, kernel_size: int = 1, stride: int = 1, dilation: int = 1,
    affine: bool = True, name: str,
):
    """ReLU -> Conv (no bias) -> BN: DARTS `ReLUConvBN` and NAS-Bench-201 `nor_conv_kxk`.

    Args:
        x: Input tensor (NHWC).
        channels: Output channels.
        kernel_size: Kernel size (padding `(k - 1) // 2 * dilation`).
        stride: 1 or 2.
        dilation: Dilation rate.
        affine: BatchNorm affine flag.
        name: Layer-name prefix.

    Returns:
        The output tensor.

    Raises:
        ValueError: for a non-positive `channels`, a stride other than 1 or 2, or no name.
    """
    _check(name, channels, stride)
    x = relu(x, name=f"{name}_relu")
    x = conv2d(x, channels, kernel_size, stride=stride, dilation=dilation, name=f"{name}_conv")
    return batch_norm(x, affine=affine, name=f"{name}_bn")


def dil_conv(x, *, channels: int, kernel_size: int, stride: int = 1, dilation: int = 2,
             affine: bool = True, name: str):
    """DARTS `DilConv`: ReLU -> dilated depthwise kxk -> pointwise 1x1 -> BN.

    Returns:
        The output tensor (`channels` channels, spatial size divided by `stride`).
    """
    _check(name, channels, stride)
    x = relu(x, name=f"{name}_relu")
    x = depthwise_conv2d(x, kernel_size, stride=stride, dilation=dilation, name=f"{name}_dw")
    x = conv2d(x, channels, 1, name=f"{name}_pw")
    return batch_norm(x, affine=affine, name=f"{name}_bn")


def sep_conv(x, *, channels: int, kernel_size: int, stride: int = 1, affine: bool = True,
             name: str):
    """DARTS `SepConv`: two stacked (ReLU, depthwise kxk, pointwise 1x1, BN); the first
    carries the stride and keeps the input channels, the second maps to `channels`.

    Returns:
        The output tensor.
    """
    _check(name, channels, stride)
    c_in = int(x.shape[-1])
    x = dil_conv(x, channels=c_in, kernel_size=kernel_size, stride=stride, dilation=1,
                 affine=affine, name=f"{name}_sep1")
    return dil_conv(x, channels=channels, kernel_size=kernel_size, stride=1, dilation=1,
                    affine=affine, name=f"{name}_sep2")


def factorized_reduce(x, *, channels: int, affine: bool = True, name: str):
    """DARTS `FactorizedReduce`: ReLU, two 1x1 stride-2 convs (the second on the input
    shifted by one pixel), channel concat, BN. Halves the resolution.

    Raises:
        ValueError: if `channels` is odd or the input resolution is odd (the two halves
            would not line up, as in the reference).
    """
    _check(name, channels, 2)
    if channels % 2:
        raise ValueError(f"FactorizedReduce needs even channels. Received: channels={channels}")
    for size in x.shape[1:3]:
        if size is not None and size % 2:
            raise ValueError(
                f"FactorizedReduce needs an even input resolution. Received: shape={tuple(x.shape)}"
            )
    x = relu(x, name=f"{name}_relu")
    a = conv2d(x, channels // 2, 1, stride=2, name=f"{name}_conv1")
    shifted = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_shift")(x)
    b = conv2d(shifted, channels // 2, 1, stride=2, name=f"{name}_conv2")
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([a, b])
    return batch_norm(x, affine=affine, name=f"{name}_bn")


def pooling(x, *, mode: str, stride: int = 1, pool_size: int = 3, name: str):
    """3x3 max/avg pooling with symmetric padding (`count_include_pad=False`).

    Uses Keras `MaxPooling2D`/`AveragePooling2D` (`padding="same"`) at stride 1 and
    `SymmetricPooling2D` at stride 2.
    """
    if stride == 1:
        layer = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
        return layer(pool_size, strides=1, padding="same", name=name)(x)
    return SymmetricPooling2D(mode, pool_size, stride, name=name)(x)


def zero(x, *, stride: int = 1, channels: int | None = None, name: str):
    """The `none` op (zeros of the output shape)."""
    return Zero(stride, channels, name=name)(x)


def resnet_basic_block(x, *, channels: int, stride: int, affine: bool = True, name: str):
    """NAS-Bench-201 `ResNetBasicblock`: ReLUConvBN 3x3 (stride) -> ReLUConvBN 3x3, plus a
    shortcut (stride 2: 2x2 average pool then bias-free 1x1 conv; channel change at stride
    1: ReLUConvBN 1x1; else identity), added.

    Returns:
        The output tensor.
    """
    _check(name, channels, stride)
    c_in = int(x.shape[-1])
    y = relu_conv_bn(x, channels=channels, kernel_size=3, stride=stride, affine=affine,
                     name=f"{name}_conv_a")
    y = relu_conv_bn(y, channels=channels, kernel_size=3, stride=1, affine=affine,
                     name=f"{name}_conv_b")
    if stride == 2:
        shortcut = keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_down_pool")(x)
        shortcut = conv2d(shortcut, channels, 1, name=f"{name}_down_conv")
    elif c_in != channels:
        shortcut = relu_conv_bn(x, channels=channels, kernel_size=1, affine=affine,
                                name=f"{name}_down")
    else:
        shortcut = x
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


# ---------------------------------------------------------------------- DARTS registry
def _same_channels(x, channels: int, op: str) -> None:
    if int(x.shape[-1]) != channels:
        raise ValueError(
            f"{op} keeps the channel count: input has {int(x.shape[-1])}. "
            f"Received: channels={channels}"
        )


def _darts_pool(x, mode, channels, stride, affine, pool_bn, name):
    _check(name, channels, stride)
    _same_channels(x, channels, f"{mode}_pool_3x3")
    if not pool_bn:
        return pooling(x, mode=mode, stride=stride, name=f"{name}_pool")
    x = pooling(x, mode=mode, stride=stride, name=f"{name}_pool")
    return batch_norm(x, affine=False, name=f"{name}_bn")


@DARTS_OPS.register("none")
def darts_none(x, *, channels: int, stride: int, affine: bool = True, pool_bn: bool = False,
               name: str):
    """DARTS `none`: `Zero(stride)`."""
    _check(name, channels, stride)
    return zero(x, stride=stride, channels=channels, name=f"{name}_zero")


@DARTS_OPS.register("max_pool_3x3")
def darts_max_pool_3x3(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `max_pool_3x3` (+ non-affine BN when `pool_bn`)."""
    return _darts_pool(x, "max", channels, stride, affine, pool_bn, name)


@DARTS_OPS.register("avg_pool_3x3")
def darts_avg_pool_3x3(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `avg_pool_3x3` (`count_include_pad=False`; + non-affine BN when `pool_bn`)."""
    return _darts_pool(x, "avg", channels, stride, affine, pool_bn, name)


@DARTS_OPS.register("skip_connect")
def darts_skip_connect(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `skip_connect`: the input itself (no layer) at stride 1, else FactorizedReduce."""
    _check(name, channels, stride)
    if stride == 1:
        _same_channels(x, channels, "skip_connect")
        return x
    return factorized_reduce(x, channels=channels, affine=affine, name=f"{name}_fr")


@DARTS_OPS.register("sep_conv_3x3")
def darts_sep_conv_3x3(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `sep_conv_3x3`."""
    return sep_conv(x, channels=channels, kernel_size=3, stride=stride, affine=affine, name=name)


@DARTS_OPS.register("sep_conv_5x5")
def darts_sep_conv_5x5(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `sep_conv_5x5`."""
    return sep_conv(x, channels=channels, kernel_size=5, stride=stride, affine=affine, name=name)


@DARTS_OPS.register("dil_conv_3x3")
def darts_dil_conv_3x3(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `dil_conv_3x3` (dilation 2, receptive field 5x5)."""
    return dil_conv(x, channels=channels, kernel_size=3, stride=stride, dilation=2,
                    affine=affine, name=f"{name}_dil")


@DARTS_OPS.register("dil_conv_5x5")
def darts_dil_conv_5x5(x, *, channels: int, stride: int, affine: bool = True,
                       pool_bn: bool = False, name: str):
    """DARTS `dil_conv_5x5` (dilation 2, receptive field 9x9)."""
    return dil_conv(x, channels=channels, kernel_size=5, stride=stride, dilation=2,
                    affine=affine, name=f"{name}_dil")


# ---------------------------------------------------------------------- NB201 registry
@NB201_OPS.register("none")
def nb201_none(x, *, channels: int, stride: int = 1, affine: bool = True, name: str):
    """NAS-Bench-201 `none`: zeros of the output shape."""
    _check(name, channels, stride)
    return zero(x, stride=stride, channels=channels, name=f"{name}_zero")


@NB201_OPS.register("skip_connect")
def nb201_skip_connect(x, *, channels: int, stride: int = 1, affine: bool = True, name: str):
    """NAS-Bench-201 `skip_connect`: identity, or its padded FactorizedReduce at stride 2."""
    _check(name, channels, stride)
    if stride == 1:
        _same_channels(x, channels, "skip_connect at stride 1")
        return x
    if channels % 2:
        raise ValueError(f"FactorizedReduce needs even channels. Received: channels={channels}")
    x = relu(x, name=f"{name}_fr_relu")
    a = conv2d(x, channels // 2, 1, stride=2, name=f"{name}_fr_conv1")
    shifted = keras.layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_fr_shift")(x)
    shifted = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_fr_pad")(shifted)
    b = conv2d(shifted, channels - channels // 2, 1, stride=2, name=f"{name}_fr_conv2")
    x = keras.layers.Concatenate(axis=-1, name=f"{name}_fr_concat")([a, b])
    return batch_norm(x, affine=affine, name=f"{name}_fr_bn")


@NB201_OPS.register("nor_conv_1x1")
def nb201_nor_conv_1x1(x, *, channels: int, stride: int = 1, affine: bool = True, name: str):
    """NAS-Bench-201 `nor_conv_1x1`: ReLU -> Conv 1x1 -> BN."""
    return relu_conv_bn(x, channels=channels, kernel_size=1, stride=stride, affine=affine,
                        name=f"{name}_rcb")


@NB201_OPS.register("nor_conv_3x3")
def nb201_nor_conv_3x3(x, *, channels: int, stride: int = 1, affine: bool = True, name: str):
    """NAS-Bench-201 `nor_conv_3x3`: ReLU -> Conv 3x3 -> BN."""
    return relu_conv_bn(x, channels=channels, kernel_size=3, stride=stride, affine=affine,
                        name=f"{name}_rcb")


@NB201_OPS.register("avg_pool_3x3")
def nb201_avg_pool_3x3(x, *, channels: int, stride: int = 1, affine: bool = True, name: str):
    """NAS-Bench-201 `avg_pool_3x3` (a ReLUConvBN 1x1 first when the channels change)."""
    _check(name, channels, stride)
    if int(x.shape[-1]) != channels:
        x = relu_conv_bn(x, channels=channels, kernel_size=1, affine=affine, name=f"{name}_pre")
    return pooling(x, mode="avg", stride=stride, name=f"{name}_pool")
