"""Batched candidate-op kernels of the search cells: many edges' copies of one op at once.

A search cell's edges that share an input (in a DARTS cell the two cell inputs feed 8 edges,
node i feeds every later node) are computed together: an op's per-edge weights are stacked
and applied in one call. The layouts (NHWC, channels last):

- a *source* tensor `[B, H, W, S * C]` holds `S` inputs side by side;
- a *per-edge* tensor `[B, H, W, S * T * C]` holds the `S * T` edges from `S` sources to
  `T` targets, edge `(s, t)` at channels `(s * T + t) * C ...`.

Depthwise convs of `T` edges over a shared input are one depthwise conv with channel
multiplier `T` (output channel order `(s, c, t)`); per-edge pointwise 1x1 convs are one
batched matmul over the edge axis; BatchNorm without affine over concatenated channels is
per channel anyway, so one fused BN serves many edges and ops.

The kernels are plain functions of tensors and weights (the layer owns the variables), in
`keras.ops` except for the batch normalization, which calls TensorFlow's fused kernel:
measured on 2 cores at `[32, 32, 32, 128]`, forward + backward, fused BN takes 45 ms and
the `keras.ops.moments` formulation 75 ms, and the fused op keeps the graph small (one op and
one gradient op instead of about fifteen). It is the only TensorFlow call in the supernets.

References:
    - Liu et al., DARTS, arXiv 1806.09055 (ops and `model_search.py` semantics).
    - Xu et al., PC-DARTS, arXiv 1907.05737 (channel shuffle).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np
import keras
from keras import ops
import tensorflow as tf

from tfnas.supernets import kernel_choice

BN_EPSILON = 1e-5
#: Per-edge pointwise convs of a group with at most this many input channels in all run as
#: one block-diagonal matmul; wider groups as a batched matmul (see `edge_matmul`).
BLOCK_DIAGONAL_MAX_CHANNELS = 64
#: `kernel_choice` measures a depthwise call at its static batch, or at this one if smaller or unknown.
PROBE_MIN_BATCH = 32


def batch_norm(x, scale=None):
    """BatchNorm without affine parameters, normalised with the batch statistics.

    The search cells' BN (affine=False) in training and inference alike
    (`track_running_stats=False`, as NAS-Bench-201's search cells).

    Args:
        x: `[B, H, W, C]` tensor.
        scale: Optional `[C]` multiplier applied after normalisation (not a learned affine
            weight: the supernets pass the architecture's mixing weights here, so the fused
            kernel does the weighting and returns its gradient).

    Returns:
        The normalised (and scaled) tensor, same shape.
    """
    if scale is None:
        scale = tf.ones([x.shape[-1]] if x.shape[-1] is not None else tf.shape(x)[-1:], x.dtype)
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        x,
        scale=scale,
        offset=tf.zeros_like(scale),
        epsilon=BN_EPSILON,
        is_training=True,
    )
    return y


def depthwise(x, kernel, *, stride: int = 1, dilation: int = 1):
    """Depthwise conv with PyTorch's symmetric padding `dilation * (k - 1) // 2`.

    `kernel` is `[k, k, C_in, multiplier]`. A stride-2 dilated conv (dilation 2) is computed
    exactly as the even-pixel subsample followed by the undilated kernel; a stride-1
    dilated one by `dilated_depthwise`.
    """
    if stride > 1 and dilation > 1:
        x = x[:, ::stride, ::stride, :]
        stride, dilation = 1, 1
    if int(kernel.shape[3]) > 1 and _repeat_multiplier() and (dilation == 1 or _native_dilation_works()):
        return repeated_depthwise(x, kernel, stride=stride, dilation=dilation)
    if stride == 1 and dilation > 1:
        return dilated_depthwise(x, kernel, dilation)
    return undilated_depthwise(x, kernel, stride)


@functools.cache
def _repeat_multiplier() -> bool:
    """Whether `depthwise` computes a channel multiplier with `repeated_depthwise`: under
    oneDNN, whose depthwise kernels are fast only for multiplier 1 (measured on the
    AVX2-only EPYC, fwd at `[32, 32, 32, 32]`, multiplier 4: 12.1 ms native, 4.4 ms
    repeated); Eigen's multiplier kernels are not slower than its repeated form."""
    from tfnas import runtime

    return runtime.kernel_library() == "onednn"


def _dilation_filter_grad(x, dy, kernel_shape, k: int, dilation: int):
    """Kernel gradient of a stride-1 "same" dilated depthwise conv, in the space-to-batch
    form: phase `(r, s)` of the output is an undilated VALID conv of phase `(r, s)` of the
    padded input (TensorFlow's CPU filter backprop ignores the dilation attribute). The
    padded copies live only in the backward op (the pad waits for `dy`)."""
    pad = dilation * (k - 1) // 2
    shape = tf.shape(x)
    extra_h, extra_w = (-shape[1]) % dilation, (-shape[2]) % dilation
    block = [dilation, dilation]
    with tf.control_dependencies([dy]):  # else the executor runs it in the forward pass
        padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    xb = tf.space_to_batch(padded, block, [[0, extra_h], [0, extra_w]])
    dyb = tf.space_to_batch(dy, block, [[0, extra_h], [0, extra_w]])
    return tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=xb, filter_sizes=kernel_shape, out_backprop=dyb, strides=[1, 1, 1, 1], padding="VALID")


# ---------------------------------------------------------------------------------------
# undilated depthwise convs with symmetric padding `(k - 1) // 2`


def _dw_strides(stride: int) -> list[int]:
    return [1, stride, stride, 1]


def _dw_padded(x, k: int):
    pad = (k - 1) // 2
    return tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])


def _dw_forward(x, kernel, stride: int):
    """"SAME" at stride 1 (symmetric for odd `k`), else the padded input at "VALID"."""
    if stride == 1:
        return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=kernel, strides=[1, 1, 1, 1], padding="SAME")
    return tf.raw_ops.DepthwiseConv2dNative(input=_dw_padded(x, int(kernel.shape[0])), filter=kernel,
                                            strides=_dw_strides(stride), padding="VALID")


def _dw_input_grad(input_shape, kernel, dy, stride: int):
    """The input gradient of `_dw_forward` (`input_shape` a `[4]` tensor): at stride 1 the
    conv of `dy` with the spatially flipped kernel for multiplier 1 (no sum over copies),
    else TensorFlow's backprop, at a larger stride for the padded size without the padding."""
    k, multiplier = int(kernel.shape[0]), kernel.shape[3]
    strides = _dw_strides(stride)
    if stride == 1 and multiplier == 1:
        return tf.raw_ops.DepthwiseConv2dNative(input=dy, filter=tf.reverse(kernel, [0, 1]), strides=strides,
                                                padding="SAME")
    if stride == 1:
        return tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
            input_sizes=input_shape, filter=kernel, out_backprop=dy, strides=strides, padding="SAME")
    pad = (k - 1) // 2
    padded = input_shape + tf.constant([0, 2 * pad, 2 * pad, 0], input_shape.dtype)
    dx = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
        input_sizes=padded, filter=kernel, out_backprop=dy, strides=strides, padding="VALID")
    return tf.slice(dx, [0, pad, pad, 0], input_shape)


def _dw_filter_grad(x, dy, kernel, stride: int, form: str):
    """The gradient of `_dw_forward` for its kernel (`[k, k, C, M]`, static `k`), in one of
    `_filter_grad_form`'s formulations: "same" (stride 1) or the padded input at "VALID"
    (`pad_valid`; the padded copy exists only in the backward pass, it waits for `dy`), or the
    padding given as "EXPLICIT" (which TensorFlow runs outside oneDNN)."""
    k = int(kernel.shape[0])
    kernel_shape = kernel.shape.as_list() if kernel.shape.is_fully_defined() else tf.shape(kernel)
    strides = _dw_strides(stride)
    if form == "explicit":
        pad = (k - 1) // 2
        return tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=x, filter_sizes=kernel_shape, out_backprop=dy, strides=strides, padding="EXPLICIT",
            explicit_paddings=[0, 0, pad, pad, pad, pad, 0, 0])
    if form == "same":
        return tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=x, filter_sizes=kernel_shape, out_backprop=dy, strides=strides, padding="SAME")
    with tf.control_dependencies([dy]):  # else the executor runs the pad in the forward pass
        padded = _dw_padded(x, k)
    return tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
        input=padded, filter_sizes=kernel_shape, out_backprop=dy, strides=strides, padding="VALID")


def _filter_grad_form(x, kernel_shape, stride: int, *, measured: bool = True, channels: int | None = None) -> str:
    """The formulation of a depthwise kernel gradient for `x`'s static shape, measured by
    `kernel_choice.choose` between the padding given the usual way ("SAME" at stride 1, else
    the padded input at "VALID") and as "EXPLICIT". Under oneDNN the two run different
    kernels: at a 5x5 kernel over `[32, 32, 32, 128]` 18.3 ms vs 7.0 ms, at 3x3 1.6 ms vs
    3.0 ms (AVX-512 Xeon, 2 cores). `channels` stands in for a channel count unknown to the
    graph (a single-path block's). Other unknown sizes, or `measured=False`, keep the usual
    form."""
    first = "same" if stride == 1 else "pad_valid"
    _, height, width, depth = x.shape
    depth = depth if depth is not None else channels
    if not measured or None in (height, width, depth, kernel_shape[0], kernel_shape[3]):
        return first
    k, channels, multiplier = int(kernel_shape[0]), int(depth), int(kernel_shape[3])
    # Measured at batch 32 below that (a model's build pass traces at batch 1).
    batch = max(int(x.shape[0] or 0), PROBE_MIN_BATCH)
    key = f"depthwise_filter_grad|{batch}x{height}x{width}x{channels}|k{k}|m{multiplier}|s{stride}"

    def make_call(form: str):
        rng = np.random.default_rng(0)
        xs = tf.constant(rng.standard_normal((batch, height, width, channels)), tf.float32)
        kernel = tf.constant(rng.standard_normal((k, k, channels, multiplier)), tf.float32)
        dy = tf.random.stateless_normal(tf.shape(_dw_forward(xs, kernel, stride)), [0, 1])
        return lambda: _dw_filter_grad(xs, dy, kernel, stride, form)

    return kernel_choice.choose(key, (first, "explicit"), make_call)


def repeated_depthwise(x, kernel, *, stride: int = 1, dilation: int = 1):
    """Depthwise conv with channel multiplier `M` as a multiplier-1 conv of the input repeated
    `M` times (channel `c * M + m` reads input channel `c`: the multiplier's output order).

    oneDNN runs a depthwise conv fast only with multiplier 1; with `M > 1` it takes a
    generic grouped-convolution path (forward and input gradient about 3x slower at the
    DARTS cell's shapes, measured). The repeated copy is made in each pass and not kept:
    the custom gradient saves only `x`. The input gradient is the multiplier-1 gradient
    summed over the `M` copies; the kernel gradient is the native multiplier filter
    backprop of `x` (the fast one under oneDNN) in the formulation `_filter_grad_form`
    measures, in the space-to-batch form when dilated.
    Same padding as `depthwise` (PyTorch's symmetric `dilation * (k - 1) // 2`); a stride
    and a dilation together are not supported (`depthwise` subsamples first), and a
    dilation needs a kernel that takes it natively (`_native_dilation_works`).

    Args:
        x: `[B, H, W, C]` with static `C`.
        kernel: `[k, k, C, M]`, `k` odd.
        stride: Spatial stride.
        dilation: Dilation rate (stride 1 only).

    Returns:
        `[B, H', W', C * M]`.
    """
    k, channels, multiplier = int(kernel.shape[0]), int(kernel.shape[2]), int(kernel.shape[3])
    if stride > 1 and dilation > 1:
        raise ValueError(f"stride and dilation together are not supported. Received: {stride=}, {dilation=}")
    if dilation > 1 and not _native_dilation_works():
        raise ValueError(
            "A dilated repeated depthwise conv needs a depthwise kernel that takes the dilation "
            f"(oneDNN); this process runs TensorFlow's Eigen kernels. Received: {dilation=}. "
            "Call `depthwise`, which falls back to the space-to-batch form.")
    x, kernel = tf.convert_to_tensor(x), tf.convert_to_tensor(kernel)
    if dilation > 1:
        return _repeated_dilated(x, kernel, dilation)
    flat_shape = [k, k, channels * multiplier, 1]
    filter_form = _filter_grad_form(x, kernel.shape, stride)

    @tf.custom_gradient
    def _conv(x, kernel):
        flat = tf.reshape(kernel, flat_shape)
        y = _dw_forward(repeat_each(x, multiplier), flat, stride)

        def grad(dy):
            shape = tf.shape(x)
            dx = _dw_input_grad(tf.concat([shape[:-1], [channels * multiplier]], axis=0), flat, dy, stride)
            dx = _sum_copies(dx, shape, multiplier)
            return dx, _dw_filter_grad(x, dy, kernel, stride, filter_form)

        return y, grad

    return _conv(x, kernel)


def _sum_copies(dx, shape, multiplier: int):
    """The input gradient of a channel-multiplier depthwise conv from the one of its
    multiplier-1 form (`[..., C * M]`, channel `c * M + m` from input channel `c`): the sum
    over the `M` copies of each channel, shaped `shape` (`[B, H, W, C]`)."""
    if multiplier == 1:
        return dx
    return tf.reduce_sum(tf.reshape(dx, tf.concat([shape, [multiplier]], axis=0)), axis=-1)


def _repeated_dilated(x, kernel, dilation: int):
    """`repeated_depthwise` at stride 1 with a dilation the kernel takes natively."""
    k, channels, multiplier = int(kernel.shape[0]), int(kernel.shape[2]), int(kernel.shape[3])
    dilations = [1, dilation, dilation, 1]

    def _forward(x, flat):  # "SAME" is symmetric for odd k at stride 1
        return tf.raw_ops.DepthwiseConv2dNative(input=x, filter=flat, strides=[1, 1, 1, 1], padding="SAME",
                                                dilations=dilations)

    @tf.custom_gradient
    def _conv(x, kernel):
        flat = tf.reshape(kernel, [k, k, channels * multiplier, 1])
        y = _forward(repeat_each(x, multiplier), flat)

        def grad(dy):
            shape = tf.shape(x)
            dx = _sum_copies(_forward(dy, tf.reverse(flat, [0, 1])), shape, multiplier)
            return dx, _dilation_filter_grad(x, dy, tf.shape(kernel), k, dilation)

        return y, grad

    return _conv(x, kernel)


def _native_dilated(x, kernel, dilation: int):
    return tf.raw_ops.DepthwiseConv2dNative(
        input=x, filter=kernel, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, dilation, dilation, 1])


@functools.cache
def _native_dilation_works() -> bool:
    """Whether this process's depthwise kernel takes a dilation itself: oneDNN's does; the
    Eigen kernel (TensorFlow's default on CPUs without AVX-512 VNNI / BF16 or AMX, and
    everywhere under `TF_ENABLE_ONEDNN_OPTS=0`) refuses it. Probed once, eagerly, against
    the space-to-batch formulation; both answers are tested (`make test` runs the kernel
    tests under each library)."""
    rng = np.random.default_rng(0)
    with tf.init_scope():  # eager, also when first reached while tracing
        x = tf.constant(rng.standard_normal((1, 7, 7, 2)), tf.float32)
        kernel = tf.constant(rng.standard_normal((3, 3, 2, 2)), tf.float32)
        reference = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME", dilations=[2, 2])
        try:
            return bool(np.allclose(_native_dilated(x, kernel, 2).numpy(), reference.numpy(), atol=1e-5))
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
            return False


def dilated_depthwise(x, kernel, dilation: int):
    """Stride-1 dilated depthwise conv, padding `dilation * (k - 1) // 2` ("same", odd `k`).

    `tf.nn.depthwise_conv2d` computes a dilated conv as pad, space-to-batch, conv and
    batch-to-space: three extra copies of the input, kept for the backward pass (a quarter
    of a GDAS step's tensor memory). Where the kernel takes the dilation itself (oneDNN),
    this calls it directly, with its own gradient: TensorFlow's CPU backprop kernels ignore
    the dilation attribute (measured: wrong gradients; `tests/tf_bugs` asserts it), so the
    input gradient is the same dilated conv of the output gradient with the flipped
    kernel, and the kernel gradient is computed in the space-to-batch form inside the
    backward op. Elsewhere (Eigen) it falls back
    to `tf.nn.depthwise_conv2d`.

    Args:
        x: `[B, H, W, C]` (`C` may be dynamic).
        kernel: `[k, k, C, M]`, `k` odd.
        dilation: Dilation rate.

    Returns:
        `[B, H, W, C * M]`.
    """
    if dilation == 1 or not _native_dilation_works():
        return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME", dilations=[dilation, dilation])
    k, multiplier = int(kernel.shape[0]), int(kernel.shape[3])

    @tf.custom_gradient
    def _conv(x, kernel):
        y = _native_dilated(x, kernel, dilation)

        def grad(dy):
            flipped = tf.reshape(tf.reverse(kernel, [0, 1]), [k, k, -1, 1])
            dx = _sum_copies(_native_dilated(dy, flipped, dilation), tf.shape(x), multiplier)
            return dx, _dilation_filter_grad(x, dy, tf.shape(kernel), k, dilation)

        return y, grad

    return _conv(tf.convert_to_tensor(x), tf.convert_to_tensor(kernel))


def undilated_depthwise(x, kernel, stride: int = 1, *, measured: bool = True, probe_channels: int | None = None):
    """Undilated depthwise conv with PyTorch's symmetric padding `(k - 1) // 2`, any stride.

    TensorFlow's "SAME" at stride 1; at a larger stride (where "SAME" is asymmetric) the
    padded input at "VALID", the padded copy living only inside each pass (kept from the
    forward pass to the backward one, it was a fifth of a GDAS step's tensor memory at its
    peak): the backward pass pads the input again after the output gradient exists, and
    takes the input gradient of the padded size without the padding. The kernel gradient
    runs the formulation `_filter_grad_form` measured fastest for the shape.

    Args:
        x: `[B, H, W, C]` (`C` may be dynamic: then the usual formulation, unmeasured).
        kernel: `[k, k, C, M]`, `k` odd.
        stride: Spatial stride.
        measured: False keeps the usual kernel-gradient formulation, as the single-path
            blocks need: their empty block is a zero batch, for which TensorFlow's strided
            forward returns the input's height and width, a gradient shape the "EXPLICIT"
            backprop refuses.
        probe_channels: The channel count the kernel-gradient formulation is measured at
            when `C` is dynamic.

    Returns:
        `[B, H', W', C * M]`.
    """
    x, kernel = tf.convert_to_tensor(x), tf.convert_to_tensor(kernel)
    filter_form = _filter_grad_form(x, kernel.shape, stride, measured=measured, channels=probe_channels)

    @tf.custom_gradient
    def _conv(x, kernel):
        y = _dw_forward(x, kernel, stride)

        def grad(dy):
            return _dw_input_grad(tf.shape(x), kernel, dy, stride), _dw_filter_grad(x, dy, kernel, stride, filter_form)

        return y, grad

    return _conv(x, kernel)


def edge_matmul(x, kernel, *, sources: int, targets: int, channels: int, multiplier_layout: bool):
    """Per-edge pointwise 1x1 convs as one batched matmul.

    Args:
        x: `[B, H, W, S * T * C]`; channel order `(s, c, t)` when `multiplier_layout`
            (a depthwise conv's multiplier output) else `(s, t, c)`.
        kernel: `[S * T, C, D]`, edge `(s, t)` at `s * T + t`.
        sources: `S`.
        targets: `T`.
        channels: `C`.
        multiplier_layout: Input channel order, see `x`.

    Returns:
        `[B, H, W, S * T * D]` in edge order `(s, t, d)`.
    """
    batch, height, width = leading_dims(x)
    out = int(kernel.shape[-1])
    edges = sources * targets
    if edges == 1:
        y = ops.matmul(ops.reshape(x, (-1, channels)), kernel[0])
        return ops.reshape(y, (batch, height, width, out))
    if edges * channels <= BLOCK_DIAGONAL_MAX_CHANNELS:
        # One dense matmul with a block-diagonal kernel (the layout change folded into it):
        # `edges` times the FLOPs, but no transposes and a full-width GEMM, faster for
        # narrow groups (fwd+bwd at [32, 32, 32, 3*16] on the AVX2-only EPYC, Eigen: 5.0 ms
        # vs 7.6 ms; at 8*16 channels the batched matmul wins under either library, 15 vs
        # 27 ms oneDNN, 29 vs 34 ms Eigen).
        per_edge = ops.reshape(kernel, (sources, targets, channels, out))
        eye_s = ops.convert_to_tensor(np.eye(sources), dtype=kernel.dtype)
        eye_t = ops.convert_to_tensor(np.eye(targets), dtype=kernel.dtype)
        spec = "stcd,sz,ty->sctzyd" if multiplier_layout else "stcd,sz,ty->stczyd"
        full = ops.reshape(ops.einsum(spec, per_edge, eye_s, eye_t),
                           (edges * channels, edges * out))
        y = ops.matmul(ops.reshape(x, (-1, edges * channels)), full)
        return ops.reshape(y, (batch, height, width, edges * out))
    if multiplier_layout:
        y = ops.reshape(x, (-1, sources, channels, targets))
        y = ops.transpose(y, (1, 3, 0, 2))
    else:
        y = ops.reshape(x, (-1, edges, channels))
        y = ops.transpose(y, (1, 0, 2))
    y = ops.reshape(y, (edges, -1, channels))
    y = ops.matmul(y, kernel)
    y = ops.transpose(y, (1, 0, 2))
    return ops.reshape(y, (batch, height, width, edges * out))


def source_matmul(x, kernel):
    """A 1x1 conv of a shared input to many edges at once: `[B,H,W,C] @ [C, T*D]`."""
    y = ops.matmul(ops.reshape(x, (-1, int(x.shape[-1]))), kernel)
    return ops.reshape(y, (*leading_dims(x), int(kernel.shape[-1])))


def pool(x, mode: str, stride: int):
    """3x3 max/avg pooling with symmetric padding; average with `count_include_pad=False`."""
    if stride == 1:
        if mode == "max":
            return ops.max_pool(x, 3, 1, padding="same")
        return ops.average_pool(x, 3, 1, padding="same")
    pads = [[0, 0], [1, 1], [1, 1], [0, 0]]
    if mode == "max":
        return ops.max_pool(ops.pad(x, pads, constant_values=-3.0e38), 3, stride, padding="valid")
    height, width = int(x.shape[1]), int(x.shape[2])
    ones = np.pad(np.ones((1, height, width, 1), np.float32), pads)
    count = np.zeros((1, (height - 1) // stride + 1, (width - 1) // stride + 1, 1), np.float32)
    for i in range(count.shape[1]):
        for j in range(count.shape[2]):
            count[0, i, j, 0] = ones[0, i * stride : i * stride + 3, j * stride : j * stride + 3].sum()
    total = ops.average_pool(ops.pad(x, pads), 3, stride, padding="valid")
    return total * ops.convert_to_tensor(9.0 / count, dtype=x.dtype)


def diagonal_phases(x):
    """`(x[:, ::2, ::2, :], x[:, 1::2, 1::2, :])`: the two inputs of DARTS's factorized
    reduction, with one cheap gradient.

    TensorFlow's gradient of each strided slice is a generic `StridedSliceGrad` (zeros, then
    a strided scatter), and the two are added: measured on the AVX-512 Xeon under oneDNN at
    `[32, 32, 32, 64]`, the slices and their gradient took 31 ms, against 9.6 ms with the
    gradient written as one interleave of the two output gradients and zeros (two `Pack`s
    and a reshape); they were the costliest ops per call of a GDAS step. Needs static even
    height and width (DARTS's 32 -> 16 -> 8); otherwise the plain slices.
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None or height % 2 or width % 2:
        return x[:, ::2, ::2, :], x[:, 1::2, 1::2, :]

    @tf.custom_gradient
    def _phases(x):
        def grad(da, db):
            zeros = tf.zeros_like(da)
            # [B, H/2, 2, W/2, 2, C]: row phase, then column phase
            full = tf.stack([tf.stack([da, zeros], axis=3), tf.stack([zeros, db], axis=3)], axis=2)
            return tf.reshape(full, tf.shape(x))

        return (x[:, ::2, ::2, :], x[:, 1::2, 1::2, :]), grad

    return _phases(tf.convert_to_tensor(x))


def interleave_halves(a, b, targets: int):
    """Concatenates per-edge halves: `[.., T*h]`, `[.., T*h]` -> `[.., T*2h]` (t, a|b)."""
    dims = leading_dims(a)
    half = int(a.shape[-1]) // targets
    a = ops.reshape(a, (*dims, targets, half))
    b = ops.reshape(b, (*dims, targets, half))
    y = ops.concatenate([a, b], axis=-1)
    return ops.reshape(y, (*dims, targets * 2 * half))


def channel_shuffle(x, groups: int):
    """PC-DARTS channel shuffle: channel `g * (C/groups) + j` moves to `j * groups + g`."""
    if groups == 1:
        return x
    dims = leading_dims(x)
    channels = int(x.shape[-1])
    y = ops.reshape(x, (*dims, groups, channels // groups))
    y = ops.transpose(y, (0, 1, 2, 4, 3))
    return ops.reshape(y, (*dims, channels))


def uniform_initializer(fan_in: int, seed: int) -> keras.initializers.Initializer:
    """PyTorch's default conv init (kaiming_uniform, a=sqrt(5)): U(-1/sqrt(fan_in), ...)."""
    bound = float(1.0 / np.sqrt(fan_in))
    return keras.initializers.RandomUniform(-bound, bound, seed=seed)


# ---------------------------------------------------------------------------------------
# Single-path kernels (GDAS / ROME): each op runs on the dynamic set of edges that sampled it.
#
# A group's edges are sorted by their sampled op; the inputs are copied to the edges in that
# order (`gather_edges`), split into one contiguous block per op (sizes known only at run
# time), each op runs once on its block with its edges' weights gathered, and the outputs go
# back to their nodes (`scatter_edges`). The graph is one computation per (group, op), as in
# the softmax cell, instead of one `switch` per edge with a branch per op (DARTS space:
# 14 x 8 branches per cell, which took over 20 minutes to trace). Tensors here have a
# dynamic channel count, so these kernels call TensorFlow directly.


def image_shape(like, channels):
    """`[B, H, W, channels]` for a reshape: static B, H and W where known (no shape ops).

    A dynamic batch is `-1` only for a static positive channel count: a block of edges may
    be empty (`channels` a tensor equal to 0), and `-1` of an empty tensor infers batch 0.
    """
    height, width = like.shape[1], like.shape[2]
    if height is not None and width is not None:
        batch = like.shape[0]
        if batch is None:
            batch = -1 if isinstance(channels, int) and channels > 0 else tf.shape(like)[0]
        return [batch, int(height), int(width), channels]
    shape = tf.shape(like)
    return [shape[0], shape[1], shape[2], channels]


def leading_dims(x) -> list:
    """`x`'s batch, height and width for a reshape: Python ints where static (no shape ops
    in the graph), else scalars of `tf.shape(x)`."""
    static = list(x.shape[:3])
    if all(d is not None for d in static):
        return [int(d) for d in static]
    shape = tf.shape(x)
    return [int(d) if d is not None else shape[i] for i, d in enumerate(static)]


def repeat_each(x, times: int):
    """`tf.repeat(x, times, axis=-1)` for a static `times` and last axis: each entry of the
    last axis `times` times in place (`[.., C] -> [.., C * times]`, entry `c * times + m`
    is `x[.., c]`).

    As expand, tile and reshape: 3 graph ops where `tf.repeat` builds about 30, and a
    DARTS search cell repeats about 20 times per pass (each op costs trace and Grappler
    time in the step's first call).
    """
    channels = x.shape[-1]
    if channels is None:
        raise ValueError(f"repeat_each needs a static last axis. Received shape: {x.shape}")
    tiled = tf.tile(tf.expand_dims(x, -1), [1] * x.shape.rank + [times])
    if x.shape.is_fully_defined():
        return tf.reshape(tiled, x.shape[:-1].as_list() + [int(channels) * times])
    return tf.reshape(tiled, tf.concat([tf.shape(x)[:-1], [int(channels) * times]], axis=0))


def batch_size(x):
    """`x`'s batch size: a Python int where static (no shape ops in the graph), else a tensor.

    The search pipelines batch with `drop_remainder=True`, so inside a traced step the batch
    is static and every reshape of the single-path kernels gets a constant shape.
    """
    return int(x.shape[0]) if x.shape[0] is not None else tf.shape(x)[0]


def as_edges(x, channels: int, edges=None):
    """`x` (`[B, H, W, n * channels]`, `n` may be 0) for kernels that cannot take 0 channels.

    CPU kernels cannot take zero channels inside a graph (the depthwise kernel rejects the
    filter; a full conv has no zero-channel kernel), but they take a zero batch. So an empty
    block is read as `[0, H, W, channels]` (a reshape of zero elements), and `edges` (`[n]`,
    the rows of the op's per-edge weight tables) gets one stand-in row, so every kernel sees
    matching shapes. The stand-in row reads row 0 of a table but sends its gradient nowhere
    (`EdgeRows.segments` is -1 there, a row `gather_rows` drops): the weight gradient of a
    kernel run on a zero batch is unspecified, and the Eigen depthwise filter backprop
    returns uninitialised memory for it (`tests/tf_bugs`), so the empty block's
    weight gradient is exactly zero by construction, whatever the kernels return. A
    non-empty block is handed on as it is. No branch and no copy; `first_channels` undoes
    it. (Earlier versions ran an empty block on a one-image stand-in of zeros chosen by a
    `tf.cond`, which cost two branch functions and a gradient `If` per op, and before that
    padded it with a `Pad` that copied every block.)

    Returns:
        `(x, EdgeRows of edges or of the stand-in (None without `edges`), the true channel
        count n * channels, the batch size B)`.
    """
    size = tf.shape(x)[-1]
    empty = tf.cast(tf.equal(size, 0), tf.int32)
    batch = batch_size(x)
    height, width = image_shape(x, channels)[1:3]
    x = tf.reshape(x, tf.stack([batch * (1 - empty), height, width, size + channels * empty]))
    rows = None
    if edges is not None:
        stand_in = tf.zeros(tf.reshape(empty, [1]), edges.dtype)
        rows = EdgeRows(tf.concat([edges, stand_in], axis=0), tf.concat([edges, stand_in - 1], axis=0))
    return x, rows, size, batch


class EdgeRows(NamedTuple):
    """Rows of per-edge weight tables for a block (`as_edges`): `gather` the rows read,
    `segments` where their gradients go (-1: dropped, for an empty block's stand-in row)."""

    gather: Any
    segments: Any


def pad_to_one_edge(x, channels: int):
    """`x` (`[B, H, W, n * channels]`, `n` may be 0), or a stand-in edge of zeros when empty.

    For max pooling: oneDNN's MaxPoolGrad aborts the process on zero channels and on a
    zero batch alike (so `as_edges` cannot serve), so an empty block runs on one stand-in
    image of zeros (`[1, H, W, channels]`), whose output `first_channels` drops again. The
    stand-in is concatenated to `as_edges`'s zero batch (and an empty stand-in to a
    non-empty block): no branch, but in a graph the concat copies the block (the pooling
    block's input is not kept for anything else, so the copy replaces it rather than
    adding to the step's memory).

    Returns:
        `(x or the stand-in, the true channel count n * channels, the batch size B)`.
    """
    x, _, size, batch = as_edges(x, channels)  # an empty block: `[0, H, W, channels]`
    empty = tf.cast(tf.equal(size, 0), tf.int32)
    stand_in = tf.zeros(tf.concat([tf.reshape(empty, [1]), tf.shape(x)[1:]], axis=0), x.dtype)
    return tf.concat([x, stand_in], axis=0), size, batch


def first_channels(x, size, batch, spatial=None):
    """Undoes `as_edges` / `pad_to_one_edge` on an op's output `x`: `x[..., :size]` reshaped
    to the true batch, `[batch, H', W', size]`, with `(H', W') = spatial` (default: `x`'s
    static height and width). A non-empty block's `Slice` covers all of `x`, which
    TensorFlow hands on without a copy, and the reshape never copies; an empty block's
    output (a zero batch or the stand-in image) becomes `[batch, H', W', 0]` (a reshape of
    zero elements; pass `spatial`, since TF's conv kernels return a zero batch with the
    input's height and width whatever the stride). The slice's gradient is one `Pad` (a
    strided slice's generic `StridedSliceGrad` was the costliest op of a GDAS step)."""
    kept = tf.slice(x, [0, 0, 0, 0], tf.stack([-1, -1, -1, size]))
    if spatial is None and x.shape[1] is not None and x.shape[2] is not None:
        spatial = (int(x.shape[1]), int(x.shape[2]))
    if spatial is not None:
        return tf.reshape(kept, [batch, int(spatial[0]), int(spatial[1]), size])
    return tf.reshape(kept, [batch] + image_shape(x, size)[1:])


def gather_rows(table, rows):
    """`tf.gather(table, rows)` (axis 0) whose gradient is one segment sum into `table`'s rows.

    For the per-edge weight tables of the single-path blocks (hundreds of gathers per
    forward pass): TensorFlow's `GatherV2` gradient builds `IndexedSlices` (about 12 ops)
    and their densification about 3 more, which made a third of a GDAS step's backward
    graph. The result and gradient are the same (`rows` may repeat; tested).

    Args:
        table: `[N, ...]` tensor with a static `N`.
        rows: `[n]` int32 row indices, or an `EdgeRows` (from `as_edges`): rows `gather`
            are read, and the gradient of each goes to row `segments` (a negative one is
            dropped: `tf.math.unsorted_segment_sum` documents that it drops negative ids).

    Returns:
        `[n, ...]`: the rows of `table`.
    """
    count = table.shape[0] if table.shape[0] is not None else tf.shape(table)[0]
    if isinstance(rows, EdgeRows):
        rows, segments = rows.gather, rows.segments
    else:
        segments = rows

    @tf.custom_gradient
    def _gather(t):
        def grad(dy):
            return tf.math.unsorted_segment_sum(dy, segments, count)

        return tf.gather(t, rows), grad

    return _gather(table)


def _eye(n, dtype):
    """Identity of dynamic size `n` (two ops; `tf.eye` builds dozens)."""
    return tf.one_hot(tf.range(n), n, dtype=dtype)


def _block_diagonal(kernels_, batch_axis: int = 0):
    """`[..., n, C, D]` per-edge kernels (`n` at `batch_axis`, the last two axes C and D) ->
    `[..., n, C, n, D]`, edge `i`'s kernel at `[..., i, :, i, :]` and zeros elsewhere: the
    block-diagonal kernel once the last four axes are merged. One broadcast multiply by the
    identity (an einsum did the same at about twice the cost per call under oneDNN)."""
    n = tf.shape(kernels_)[batch_axis]
    eye = _eye(n, kernels_.dtype)  # [n, n]
    lead = batch_axis  # axes before n
    eye = tf.reshape(eye, [1] * lead + [n, 1, n, 1])
    return tf.expand_dims(kernels_, -2) * eye


def gather_edges(x, sources_of, inverse, *, sources: int, targets: int, channels: int):
    """Copies each source's channels to the edges that read it, in a given edge order.

    Args:
        x: `[B, H, W, S * C]` the group's sources side by side.
        sources_of: `[E]` int32, the source of the edge at each position of the order.
        inverse: `[E]` int32, the position of edge `e = s * T + t` in the order.
        sources, targets, channels: `S`, `T`, `C`.

    Returns:
        `[B, H, W, E * C]` edge inputs in the given order. The gradient sums each source's
        edges (a reshape and a sum, no scatter).
    """

    @tf.custom_gradient
    def _gather(x):
        y = tf.gather(tf.reshape(x, [-1, sources, channels]), sources_of, axis=1)
        y = tf.reshape(y, image_shape(x, sources * targets * channels))

        def grad(dy):
            d = tf.gather(tf.reshape(dy, [-1, sources * targets, channels]), inverse, axis=1)
            d = tf.reduce_sum(tf.reshape(d, [-1, sources, targets, channels]), axis=2)
            return tf.reshape(d, image_shape(x, sources * channels))

        return y, grad

    return _gather(x)


def scatter_edges(y, order, inverse, *, sources: int, targets: int, channels: int):
    """Edge outputs in sorted order -> each target's sum over its sources: `[B, H, W, T, C]`.

    Args:
        y: `[B, H, W, E * C]` edge outputs in the order of `order`.
        order: `[E]` int32, the edge at each position.
        inverse: `[E]` int32, the position of each edge.
        sources, targets, channels: `S`, `T`, `C`.
    """
    edges = sources * targets

    @tf.custom_gradient
    def _scatter(y):
        d = tf.gather(tf.reshape(y, [-1, edges, channels]), inverse, axis=1)
        d = tf.reduce_sum(tf.reshape(d, [-1, sources, targets, channels]), axis=1)
        out = tf.reshape(d, image_shape(y, targets)[:3] + [targets, channels])

        def grad(dout):
            d = tf.reshape(dout, [-1, 1, targets, channels])
            if sources > 1:
                d = tf.tile(d, [1, sources, 1, 1])
            d = tf.gather(tf.reshape(d, [-1, edges, channels]), order, axis=1)
            return tf.reshape(d, image_shape(y, edges * channels))

        return out, grad

    return _scatter(y)


def block_matmul(x, kernels_, *, padded: bool = False):
    """Per-edge 1x1 convs of `n` edges side by side: `[B, H, W, n * C] x [n, C, D]`.

    One batched matmul over the edges: the pixels as `[n, B*H*W, C]` rows (a transpose in,
    one out). One matmul with a block-diagonal `[n * C, n * D]` kernel would do `n` times the
    multiply-adds. Forward and backward, `[32, H, W, n * C]`, C = 16 / 32 / 64 at 32 / 16 / 8
    pixels, AVX-512 EPYC under oneDNN, the batched form against the block-diagonal one: as
    fast at one edge, 0.73-1.07x at two (slower at 16 channels only), 1.15-2.1x faster at
    four and 1.7-4.5x at eight, where GDAS spends its step once the sampled ops concentrate
    (every edge on `sep_conv_3x3`: 1.35 s a step with the block-diagonal form, 0.79 s of it
    in these matmuls; 0.87 s batched). `padded`: `x` comes from `as_edges` (so `n >= 1`, and
    the batch, unknown to the graph and possibly 0, is inferred by the reshape without shape
    ops).
    """
    n = tf.shape(kernels_)[0]
    c, d = int(kernels_.shape[1]), int(kernels_.shape[2])
    rows = tf.transpose(tf.reshape(x, tf.stack([-1, n, c])), [1, 0, 2])  # [n, B*H*W, C]
    y = tf.transpose(tf.matmul(rows, kernels_), [1, 0, 2])  # [B*H*W, n, D]
    if padded and x.shape[1] is not None and x.shape[2] is not None:
        return tf.reshape(y, tf.stack([-1, int(x.shape[1]), int(x.shape[2]), n * d]))
    return tf.reshape(y, image_shape(x, n * d))


def block_depthwise(x, kernels_, *, stride: int = 1, dilation: int = 1):
    """Per-edge depthwise convs of `n >= 1` edges side by side: `[B, H, W, n * C]`, `[n, k, k, C]`
    (an empty block goes through `as_edges` first)."""
    k = int(kernels_.shape[1])
    kernel = tf.reshape(tf.transpose(kernels_, [1, 2, 0, 3]), [k, k, -1, 1])
    if stride > 1 and dilation > 1:
        x = x[:, ::stride, ::stride, :]
        stride, dilation = 1, 1
    if stride == 1 and dilation > 1 and _native_dilation_works():
        return dilated_depthwise(x, kernel, dilation)
    if stride == 1 and dilation > 1:
        # tf.nn's dilated path needs a static channel count: do its space-to-batch here.
        pad = dilation * (k - 1) // 2
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        height, width = int(x.shape[1]), int(x.shape[2])
        extra = [(-height) % dilation, (-width) % dilation]
        blocks = tf.space_to_batch(x, [dilation, dilation], [[0, extra[0]], [0, extra[1]]])
        y = tf.nn.depthwise_conv2d(blocks, kernel, [1, 1, 1, 1], "VALID")
        return tf.batch_to_space(y, [dilation, dilation], [[0, extra[0]], [0, extra[1]]])
    if stride == 1:  # measured at two edges' channels (the block's count is known only at run time)
        return undilated_depthwise(x, kernel, 1, probe_channels=2 * int(kernels_.shape[3]))
    return undilated_depthwise(x, kernel, stride, measured=False)


def block_pool(x, mode: str, stride: int, *, channels: int):
    """`pool` of the edges side by side in `x` (`[B, H, W, n * C]`); `n` may be 0 (see
    `as_edges`; max pooling needs `pad_to_one_edge`: under oneDNN, graph-mode MaxPoolGrad
    aborts on zero channels and on a zero batch)."""
    spatial = strided_size(x, stride)
    if mode == "avg":
        x, _, size, batch = as_edges(x, channels)
    else:
        x, size, batch = pad_to_one_edge(x, channels)
    return first_channels(pool(x, mode, stride), size, batch, spatial)


def strided_size(x, stride: int):
    """`(ceil(H / stride), ceil(W / stride))` of `x`'s static height and width (None if
    unknown): the output size of the single-path ops (padding `(k - 1) // 2`, odd `k`)."""
    if x.shape[1] is None or x.shape[2] is None:
        return None
    return (-(-int(x.shape[1]) // stride), -(-int(x.shape[2]) // stride))


def block_conv(x, kernels_, *, stride: int = 1):
    """Per-edge full convs of `n >= 1` edges side by side: `[n, k, k, C, D]` kernels (an
    empty block goes through `as_edges` first)."""
    k = int(kernels_.shape[1])
    n = tf.shape(kernels_)[0]
    c, d = int(kernels_.shape[3]), int(kernels_.shape[4])
    full = _block_diagonal(tf.transpose(kernels_, [1, 2, 0, 3, 4]), batch_axis=2)
    full = tf.reshape(full, [k, k, n * c, n * d])
    if stride == 1:
        return tf.nn.conv2d(x, full, 1, "SAME")
    pad = (k - 1) // 2
    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return tf.nn.conv2d(x, full, stride, "VALID")
