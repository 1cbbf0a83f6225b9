"""1-bit convolutions for binarized cell networks (the child side of BNAS, arXiv 1911.10862).

- **Weights**: XNOR-Net's binarization (Rastegari et al., arXiv 1603.05279): a kernel `W` is
  replaced by `alpha * sign(W)`, `alpha` the mean `|W|` of each output channel (of each
  channel for a depthwise kernel), with `sign(0) = +1`. Backward, the straight-through
  estimator clipped at 1 (`sign_ste`), so `d(alpha sign W)/dW = 1/n + alpha * 1{|W| <= 1}`,
  the gradient XNOR-Net derives.
- **Activations** (`activations=True`): `sign` with the same clipped straight-through
  estimator (BNN, Hubara et al., arXiv 1602.02830), applied to a binarized convolution's
  input. The cell ops put a ReLU before each convolution; a sign after a ReLU would be +1
  everywhere, so in this mode the ReLU is left out and the sign is the nonlinearity. The
  default is 1-bit weights with float activations: BNAS's official code was not available
  offline to check which of the two the paper's CIFAR-10 numbers used.
- The stem and the auxiliary head (layer names `stem*`, `aux_*`) and the classifier stay in
  float, as in XNOR-Net and BNAS.

`binarized(activations=...)` is a build-time scope: `tfnas.ops.cell_ops` makes its
convolutions `BinaryConv2D` / `BinaryDepthwiseConv2D` inside it (`build_child(...,
binarized="weights" | "weights_activations")`), so genotypes, op names and children work
unchanged. `packed_bytes(model)` is a model's size with every binarized kernel stored as one
bit per weight plus one float32 scale per channel.

References:
    - Chen et al., Binarized Neural Architecture Search (BNAS), arXiv 1911.10862.
    - Rastegari et al., XNOR-Net, arXiv 1603.05279.
    - Hubara et al., Binarized Neural Networks, arXiv 1602.02830.

Example:
>>> x = keras.Input((8, 8, 4))
>>> with binarized():
...     y = cell_ops.conv2d(x, 4, 3, name="c")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

#: `build_child(binarized=...)` modes: 1-bit weights, or 1-bit weights and activations.
MODES = ("weights", "weights_activations")
_FLOAT_PREFIXES = ("stem", "aux_")
_scope: list[bool] = []  # activations flag of the innermost active scope


def sign(x):
    """`+1` where `x >= 0`, else `-1` (never 0, unlike `ops.sign`)."""
    return ops.where(x >= 0, ops.ones_like(x), -ops.ones_like(x))


def sign_ste(x, clip: float = 1.0):
    """`sign(x)` forward; backward the gradient passes where `|x| <= clip` and is 0 outside."""
    clipped = ops.clip(x, -clip, clip)
    return clipped + ops.stop_gradient(sign(x) - clipped)


def binarize_kernel(kernel, channel_axes: tuple[int, ...]):
    """XNOR-Net's `alpha * sign(W)`, `alpha` the mean `|W|` over every axis but `channel_axes`."""
    reduce = tuple(a for a in range(len(kernel.shape)) if a not in channel_axes)
    alpha = ops.mean(ops.abs(kernel), axis=reduce, keepdims=True)
    return alpha * sign_ste(kernel)


@contextlib.contextmanager
def binarized(activations: bool = False) -> Iterator[None]:
    """Within it, the cell ops build binarized convolutions (see the module docstring)."""
    _scope.append(bool(activations))
    try:
        yield
    finally:
        _scope.pop()


def active(name: str) -> bool:
    """Whether a convolution named `name` is binarized in the current scope."""
    return bool(_scope) and not name.startswith(_FLOAT_PREFIXES)


def activations_binarized() -> bool:
    """Whether the current scope binarizes activations too (the ReLUs before convolutions go)."""
    return bool(_scope) and _scope[-1]


class _OneBit:
    """What both binarized convolutions share: the sign-activation flag, the 1-bit kernel, the config."""

    #: The kernel axes that share one scale.
    channel_axes: tuple[int, ...] = ()

    def __init__(self, *args: Any, binarize_activations: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.binarize_activations = bool(binarize_activations)

    def binary_kernel(self, kernel=None):
        """The kernel the layer convolves with: `mean|W| * sign(W)` per channel (of `kernel`, default its own)."""
        return binarize_kernel(self.kernel if kernel is None else kernel, self.channel_axes)

    def binary_inputs(self, inputs):
        """The inputs the layer convolves: their sign when it binarizes activations."""
        return sign_ste(inputs) if self.binarize_activations else inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "binarize_activations": self.binarize_activations}


@keras.saving.register_keras_serializable(package="tfnas")
class BinaryConv2D(_OneBit, keras.layers.Conv2D):
    """`Conv2D` with XNOR-Net 1-bit weights (per output channel scale) and optionally sign inputs."""

    channel_axes = (3,)  # output channels of (kh, kw, in, out)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(self.binary_inputs(inputs), self.binary_kernel(kernel))


@keras.saving.register_keras_serializable(package="tfnas")
class BinaryDepthwiseConv2D(_OneBit, keras.layers.DepthwiseConv2D):
    """`DepthwiseConv2D` with 1-bit weights (a scale per channel) and optionally sign inputs."""

    channel_axes = (2, 3)  # channel and multiplier of (kh, kw, channels, multiplier)

    def call(self, inputs):
        if self.use_bias or self.activation not in (None, keras.activations.linear):
            raise ValueError("BinaryDepthwiseConv2D has no bias and no activation.")
        return ops.depthwise_conv(self.binary_inputs(inputs), self.binary_kernel(), strides=self.strides,
                                  padding=self.padding, dilation_rate=self.dilation_rate,
                                  data_format=self.data_format)


def binary_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """`model`'s binarized convolutions."""
    return [layer for layer in model._flatten_layers() if isinstance(layer, _OneBit)]


def packed_bytes(model: keras.Model) -> dict[str, int]:
    """A model's weight bytes in float32 and with its binarized kernels packed to 1 bit a weight.

    A binarized kernel costs `ceil(n / 8)` bytes of signs plus 4 bytes per channel scale;
    every other weight (stem, BatchNorm, classifier, ...) stays float32.

    Returns:
        `{"float32_bytes", "packed_bytes", "binary_weights"}`.
    """
    total = sum(int(np.prod(w.shape)) for w in model.weights) * 4
    packed = total
    count = 0
    for layer in binary_layers(model):
        shape = layer.kernel.shape
        n = int(np.prod(shape))
        channels = int(np.prod([shape[a] for a in layer.channel_axes]))  # one float32 scale each
        packed += -n * 4 + (n + 7) // 8 + 4 * channels
        count += n
    return {"float32_bytes": total, "packed_bytes": packed, "binary_weights": count}
