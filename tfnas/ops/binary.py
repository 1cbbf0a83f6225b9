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
- **PCNN** (`method="pcnn"`, the child mode `"pcnn"`), the second of BNAS's two binarization
  methods: projection convolutions trained by discrete back-propagation via projection (Gu et
  al., arXiv 1811.12755). The kernel `C` is projected onto `{-a, +a}`, `a` the mean `|C|` of
  the whole layer (one scale per layer, not per channel): `C^ = a * sign(W~ o C)`, `W~` a
  learned `kh x kw` projection matrix repeated over the channels (initialised to ones), its
  mean used forward and `W~` itself backward, as the paper's implementation does. Backward,
  `dL/dC = dL/dC^ o 1{|W~ o C| <= 1} o W~` and `dL/dW~` sums the same over the channel planes.
  The projection loss `L_P = lambda/2 ||C^ - W~ o (C + eta dC^)||^2` (`C^` and `dC^` held
  constant, `dC^` the task loss's gradient at `C^`) is added to the training loss with
  `lambda = 1e-4` (the paper's); `dC^` is the gradient of the previous training step, kept
  in a non-trainable variable (the paper's `[k]` iterate needs the current step's, which a
  single backward pass does not have), and `eta` is the kernel's learning rate, fixed at the
  children's initial 0.05 (`PCNN_ETA`). One projection per kernel (`J = 1`): the cell's
  convolutions keep their channel counts, where `J > 1` would concatenate `J` kernels. At
  inference the layer is `a * sign(mean(W~) C)`: the projection matrix and `C` are dropped.
  TensorFlow backend only (the gradient record assigns a variable in the backward pass).

`binarized(activations=...)` is a build-time scope: `tfnas.ops.cell_ops` makes its
convolutions `BinaryConv2D` / `BinaryDepthwiseConv2D` inside it (`build_child(...,
binarized="weights" | "weights_activations")`), so genotypes, op names and children work
unchanged. `packed_bytes(model)` is a model's size with every binarized kernel stored as one
bit per weight plus one float32 scale per channel.

References:
    - Chen et al., Binarized Neural Architecture Search (BNAS), arXiv 1911.10862.
    - Gu et al., Projection Convolutional Neural Networks for 1-bit CNNs via Discrete Back
      Propagation (PCNN), arXiv 1811.12755.
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

#: `build_child(binarized=...)` modes: XNOR-Net 1-bit weights, the same with 1-bit
#: activations, or PCNN's projected 1-bit weights (float activations).
MODES = ("weights", "weights_activations", "pcnn")
#: Binarization methods of the kernels.
METHODS = ("xnor", "pcnn")
#: PCNN's projection-loss weight lambda (Gu et al.'s 1e-4) and the kernel learning rate eta.
PCNN_LAMBDA = 1e-4
PCNN_ETA = 0.05
_FLOAT_PREFIXES = ("stem", "aux_")
_scope: list[tuple[bool, str]] = []  # (activations, method) of the innermost active scope


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


def _check(activations: bool, method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}. Received: {method!r}")
    if activations and method != "xnor":
        raise ValueError("Binarized activations are built with method='xnor' only.")


@contextlib.contextmanager
def binarized(activations: bool = False, method: str = "xnor") -> Iterator[None]:
    """Within it, the cell ops build binarized convolutions (see the module docstring)."""
    _check(activations, method)
    _scope.append((bool(activations), method))
    try:
        yield
    finally:
        _scope.pop()


def mode_scope(mode: str):
    """The `binarized(...)` scope of a `build_child(binarized=mode)` mode."""
    if mode not in MODES:
        raise ValueError(f"binarized must be None or one of {', '.join(MODES)}. Received: {mode!r}")
    return binarized(activations=mode == "weights_activations", method="pcnn" if mode == "pcnn" else "xnor")


def active(name: str) -> bool:
    """Whether a convolution named `name` is binarized in the current scope."""
    return bool(_scope) and not name.startswith(_FLOAT_PREFIXES)


def activations_binarized() -> bool:
    """Whether the current scope binarizes activations too (the ReLUs before convolutions go)."""
    return bool(_scope) and _scope[-1][0]


def layer_arguments() -> dict[str, Any]:
    """The binarized convolutions' arguments in the current scope."""
    activations, method = _scope[-1]
    return {"binarize_activations": activations, "method": method}


def _record_gradient(variable):
    """Identity forward; backward it stores the incoming gradient in `variable` and passes it on."""
    import tensorflow as tf

    @tf.custom_gradient
    def record(x):
        def grad(upstream):
            with tf.control_dependencies([variable.assign(tf.cast(upstream, variable.dtype))]):
                return tf.identity(upstream)

        return tf.identity(x), grad

    return record


class _OneBit:
    """What both binarized convolutions share: the sign-activation flag, the 1-bit kernel, the config."""

    #: The kernel axes that share one scale.
    channel_axes: tuple[int, ...] = ()

    def __init__(self, *args: Any, binarize_activations: bool = False, method: str = "xnor", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _check(binarize_activations, method)
        self.binarize_activations = bool(binarize_activations)
        self.method = method

    def build(self, input_shape) -> None:
        super().build(input_shape)
        if self.method == "pcnn":
            kh, kw = self.kernel.shape[:2]
            self.projection = self.add_weight(shape=(kh, kw), initializer="ones", name="projection")
            self.kernel_grad = self.add_weight(shape=self.kernel.shape, initializer="zeros", trainable=False,
                                               name="kernel_grad", aggregation="mean")

    def _own_variables(self) -> list:
        return [self.kernel, *([self.bias] if self.use_bias else []), *self.training_only_weights]

    def save_own_variables(self, store) -> None:
        if self.built:  # the kernel, then PCNN's projection and gradient record (Keras's conv saves the kernel only)
            for i, variable in enumerate(self._own_variables()):
                store[str(i)] = variable

    def load_own_variables(self, store) -> None:
        if len(store.keys()) != len(self._own_variables()):
            raise ValueError(f"Layer {self.name!r} (method={self.method}) expected {len(self._own_variables())} "
                             f"variables, received {len(store.keys())} while loading.")
        for i, variable in enumerate(self._own_variables()):
            variable.assign(store[str(i)])

    @property
    def training_only_weights(self) -> list:
        """Weights the deployed layer does not keep (PCNN's projection matrix and gradient record)."""
        return [self.projection, self.kernel_grad] if self.method == "pcnn" else []

    @property
    def scale_axes(self) -> tuple[int, ...]:
        """The kernel axes with one scale each (PCNN: one scale for the layer)."""
        return self.channel_axes if self.method == "xnor" else ()

    def _pcnn_kernel(self, kernel):
        projection = self.projection[:, :, None, None]
        forward = ops.mean(self.projection)  # the mean forward, the matrix backward (the paper's code)
        alpha = ops.stop_gradient(ops.mean(ops.abs(kernel)))
        projected = ops.clip(projection * kernel, -1.0, 1.0)
        return projected + ops.stop_gradient(alpha * sign(forward * kernel) - projected)

    def binary_kernel(self, kernel=None):
        """The kernel the layer convolves with (of `kernel`, default its own): XNOR-Net's `mean|W| *
        sign(W)` per channel, or PCNN's `a * sign(W~ o C)`."""
        kernel = self.kernel if kernel is None else kernel
        if self.method == "xnor":
            return binarize_kernel(kernel, self.channel_axes)
        return self._pcnn_kernel(kernel)

    def training_kernel(self, kernel=None):
        """`binary_kernel`, with PCNN's record of the task gradient at the quantized kernel."""
        quantized = self.binary_kernel(kernel)
        return _record_gradient(self.kernel_grad)(quantized) if self.method == "pcnn" else quantized

    def projection_loss(self):
        """PCNN's `lambda/2 ||C^ - W~ o (C + eta dC^)||^2` (module docstring)."""
        target = ops.stop_gradient(self._pcnn_kernel(self.kernel))
        moved = self.kernel + PCNN_ETA * ops.stop_gradient(self.kernel_grad)
        return 0.5 * PCNN_LAMBDA * ops.sum(ops.square(target - self.projection[:, :, None, None] * moved))

    def call(self, inputs, training=None):
        if self.use_bias or self.activation not in (None, keras.activations.linear):
            raise ValueError(f"{type(self).__name__} has no bias and no activation.")
        if training and self.method == "pcnn":
            self.add_loss(self.projection_loss())
        kernel = self.training_kernel() if training else self.binary_kernel()
        return self.convolve(self.binary_inputs(inputs), kernel)

    def convolve(self, inputs, kernel):
        """The layer's convolution of `inputs` with `kernel` (the subclass's op)."""
        raise NotImplementedError

    def binary_inputs(self, inputs):
        """The inputs the layer convolves: their sign when it binarizes activations."""
        return sign_ste(inputs) if self.binarize_activations else inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "binarize_activations": self.binarize_activations, "method": self.method}


@keras.saving.register_keras_serializable(package="tfnas")
class BinaryConv2D(_OneBit, keras.layers.Conv2D):
    """`Conv2D` with XNOR-Net 1-bit weights (per output channel scale) and optionally sign inputs."""

    channel_axes = (3,)  # output channels of (kh, kw, in, out)

    def convolve(self, inputs, kernel):
        return self.convolution_op(inputs, kernel)


@keras.saving.register_keras_serializable(package="tfnas")
class BinaryDepthwiseConv2D(_OneBit, keras.layers.DepthwiseConv2D):
    """`DepthwiseConv2D` with 1-bit weights (a scale per channel) and optionally sign inputs."""

    channel_axes = (2, 3)  # channel and multiplier of (kh, kw, channels, multiplier)

    def convolve(self, inputs, kernel):
        return ops.depthwise_conv(inputs, kernel, strides=self.strides, padding=self.padding,
                                  dilation_rate=self.dilation_rate, data_format=self.data_format)


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
    layers = binary_layers(model)
    training_only = {id(w) for layer in layers for w in layer.training_only_weights}
    total = sum(int(np.prod(w.shape)) for w in model.weights if id(w) not in training_only) * 4
    packed = total
    count = 0
    for layer in layers:
        shape = layer.kernel.shape
        n = int(np.prod(shape))
        channels = int(np.prod([shape[a] for a in layer.scale_axes]))  # one float32 scale each
        packed += -n * 4 + (n + 7) // 8 + 4 * channels
        count += n
    return {"float32_bytes": total, "packed_bytes": packed, "binary_weights": count}
