"""Gradient check of every search kernel against a plain dense formulation of the same op.

Each kernel of `tfnas.supernets.kernels` (the mixed ones of the softmax cell and the
single-path ones of the sampled cell) is run on random shapes (seeded: batch 1-3, height
and width 5-9, odd ones included, channel counts including one and, for the single-path
blocks, zero edges) and compared, forward and every gradient (input and weights, for a
random cotangent), with a reference written with stock TensorFlow ops only: windows cut by
`tf.image.extract_patches` (PyTorch's symmetric padding by an explicit `tf.pad`) and
contracted by `tf.einsum`, per-edge loops over channel slices, `tf.reduce_mean` moments.
None of the references calls a tfnas kernel (nor TensorFlow's conv or pooling kernels,
which the kernels under test are built on). Every check runs eagerly and inside
`tf.function`; the single-path blocks are traced with a dynamic channel count and a dynamic
edge selection, as in the sampled cell.

A whole sampled (`gumbel`) `SearchCell` is checked, too, against the sum of its per-edge
`_single_op`s weighted by `hard[e, index[e]]`, with ops that no edge and that exactly one
edge of a group sampled.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.spaces import darts as darts_space
from tfnas.spaces import nb201 as nb201_space
from tfnas.supernets import kernels
from tfnas.supernets.cells import SearchCell

from tests.helpers import reference_cell

EPSILON = 1e-5  # PyTorch's BatchNorm epsilon
TRACED = pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
#: Each formulation of the kernels that have several (`tfnas.supernets.kernel_choice`).
FORMS = pytest.mark.parametrize("form", ["first", "last"])


# ---------------------------------------------------------------------------------------
# harness


def _image(rng, channels):
    """A random `[B, H, W, channels]` array: B in 1..3, H and W in 5..9."""
    batch, height, width = (int(d) for d in rng.integers([1, 5, 5], [4, 10, 10]))
    return rng.standard_normal((batch, height, width, channels))


def _value_and_grads(fn, floats, others, dy):
    with tf.GradientTape() as tape:
        tape.watch(floats)
        y = fn(*floats, *others)
    grads = tape.gradient(y, floats, output_gradients=dy, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return [y] + [tf.convert_to_tensor(g) for g in grads]  # a gather's gradient: IndexedSlices


def _assert_close(got, want, what, rtol=1e-4, atol=1e-5):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale, err_msg=what)


def _check(ours, reference, floats, others=(), *, traced, rng, specs=None):
    """`ours(*floats, *others)` against `reference(...)`: the value and the gradients w.r.t.
    every float input, for a random cotangent. `traced` runs `ours` in a `tf.function`,
    with `specs` (shapes, None for a dynamic axis, for `floats` then `others`) as its input
    signature if given (the cotangent's channel axis is then dynamic too).

    Returns `(got, want)`: `[y, *grads]` each, as numpy arrays.
    """
    floats = [tf.constant(np.asarray(f, np.float32)) for f in floats]
    others = [tf.constant(o) for o in others]
    y = reference(*floats, *others)
    dy = tf.constant(rng.standard_normal(y.shape).astype(np.float32))
    want = _value_and_grads(reference, floats, others, dy)

    count = len(floats)

    def run(*args):
        return _value_and_grads(ours, list(args[:count]), args[count:-1], args[-1])

    if traced:
        signature = None
        if specs is not None:
            signature = [tf.TensorSpec(s, t.dtype) for s, t in zip(specs, floats + others)]
            signature.append(tf.TensorSpec(list(dy.shape[:-1]) + [None], tf.float32))
        run = tf.function(run, input_signature=signature, autograph=False)
    got = run(*floats, *others, dy)
    got, want = [np.asarray(g) for g in got], [np.asarray(w) for w in want]
    for i, (g, w) in enumerate(zip(got, want)):
        _assert_close(g, w, "output" if i == 0 else f"gradient of input {i - 1}")
    return got, want


# ---------------------------------------------------------------------------------------
# dense references: stock TensorFlow ops only


def _patches(x, k, stride=1, dilation=1, value=0.0):
    """`[B, H', W', k, k, C]`: the `k x k` windows (dilated by `dilation`, every `stride`-th)
    of `x` padded symmetrically by PyTorch's `dilation * (k - 1) // 2` with `value`."""
    pad = dilation * (k - 1) // 2
    padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=value)
    p = tf.image.extract_patches(padded, sizes=[1, k, k, 1], strides=[1, stride, stride, 1],
                                 rates=[1, dilation, dilation, 1], padding="VALID")
    return tf.reshape(p, list(p.shape[:3]) + [k, k, int(x.shape[-1])])


def _ref_depthwise(x, kernel, stride=1, dilation=1):
    """`[k, k, C, M]` depthwise conv, output channel `c * M + m` (PyTorch's groups=C)."""
    k, c, m = int(kernel.shape[0]), int(kernel.shape[2]), int(kernel.shape[3])
    y = tf.einsum("bhwijc,ijcm->bhwcm", _patches(x, k, stride, dilation), kernel)
    return tf.reshape(y, list(y.shape[:3]) + [c * m])


def _ref_conv(x, kernel, stride=1):
    """`[k, k, C, D]` full conv with symmetric padding `(k - 1) // 2`."""
    return tf.einsum("bhwijc,ijcd->bhwd", _patches(x, int(kernel.shape[0]), stride), kernel)


def _ref_pool(x, mode, stride):
    """3x3 pooling, padding 1; the average over the window's pixels inside the image
    (PyTorch's `count_include_pad=False`)."""
    if mode == "max":
        return tf.reduce_max(_patches(x, 3, stride, value=-1e30), axis=[3, 4])
    total = tf.reduce_sum(_patches(x, 3, stride), axis=[3, 4])
    count = tf.reduce_sum(_patches(tf.ones_like(x[..., :1]), 3, stride), axis=[3, 4])
    return total / count


def _ref_batch_norm(x, scale=None):
    mean = tf.reduce_mean(x, axis=[0, 1, 2], keepdims=True)
    variance = tf.reduce_mean(tf.square(x - mean), axis=[0, 1, 2], keepdims=True)  # biased, as in training
    y = (x - mean) / tf.sqrt(variance + EPSILON)
    return y if scale is None else y * scale


def _ref_per_edge(x, table, sel, op, channels):
    """A block kernel's reference: edge `i` is `op(x[..., i*C:(i+1)*C], table[sel[i]])`,
    the edges' outputs concatenated (no edge: `op`'s output shape with 0 channels)."""
    sel = [int(s) for s in np.asarray(sel)]
    outs = [op(x[..., i * channels : (i + 1) * channels], table[s]) for i, s in enumerate(sel)]
    if outs:
        return tf.concat(outs, axis=-1)
    like = op(tf.zeros(list(x.shape[:3]) + [channels]), tf.zeros(table.shape[1:]))
    return tf.zeros(list(like.shape[:3]) + [0])


# ---------------------------------------------------------------------------------------
# the reference itself, on hand-computed values


def test_references_on_hand_computed_values():
    x = np.arange(1.0, 10.0, dtype=np.float32).reshape(1, 3, 3, 1)
    avg = _ref_pool(tf.constant(x), "avg", 1).numpy()[0, :, :, 0]
    np.testing.assert_allclose(avg[0, 0], (1 + 2 + 4 + 5) / 4)
    np.testing.assert_allclose(avg[1, 1], 5.0)
    np.testing.assert_allclose(avg[0, 1], (1 + 2 + 3 + 4 + 5 + 6) / 6)
    assert _ref_pool(tf.constant(x), "max", 2).numpy()[0, :, :, 0].tolist() == [[5, 6], [8, 9]]
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[0, 0] = 1.0  # picks the pixel up-left by `dilation`: zero in the padding
    y = _ref_depthwise(tf.constant(x), tf.constant(kernel), dilation=1).numpy()[0, :, :, 0]
    assert y.tolist() == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]
    x5 = np.arange(25.0, dtype=np.float32).reshape(1, 5, 5, 1)
    y = _ref_depthwise(tf.constant(x5), tf.constant(kernel), stride=2, dilation=2).numpy()[0, :, :, 0]
    assert y.tolist() == [[0, 0, 0], [0, 0, 2], [0, 10, 12]]


# ---------------------------------------------------------------------------------------
# mixed (softmax cell) kernels


@TRACED
@FORMS
@pytest.mark.parametrize("repeat", [False, True], ids=["native_multiplier", "repeated"])
@pytest.mark.parametrize("multiplier", [1, 3])
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_depthwise(stride, dilation, k, multiplier, repeat, form, traced, monkeypatch):
    """Both multiplier paths whatever the kernel library (`_repeat_multiplier` picks one
    by library; the repeated path's dilation needs oneDNN and falls back without it), each
    kernel-gradient formulation."""
    monkeypatch.setattr(kernels, "_repeat_multiplier", lambda: repeat)
    monkeypatch.setenv("TFNAS_KERNEL_FORM", form)
    rng = np.random.default_rng([stride, dilation, k, multiplier])
    channels = int(rng.choice([1, 2, 4]))
    x = _image(rng, channels)
    kernel = rng.standard_normal((k, k, channels, multiplier))
    _check(lambda a, b: kernels.depthwise(a, b, stride=stride, dilation=dilation),
           lambda a, b: _ref_depthwise(a, b, stride, dilation), [x, kernel], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("dilation", [2, 3])
def test_dilated_depthwise(dilation, multiplier, traced):
    rng = np.random.default_rng([11, dilation, multiplier])
    channels = int(rng.choice([1, 3]))
    x = _image(rng, channels)
    kernel = rng.standard_normal((3, 3, channels, multiplier))
    _check(lambda a, b: kernels.dilated_depthwise(a, b, dilation),
           lambda a, b: _ref_depthwise(a, b, 1, dilation), [x, kernel], traced=traced, rng=rng)


@TRACED
@FORMS
@pytest.mark.parametrize("multiplier", [1, 2, 4])
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3)])
def test_repeated_depthwise(stride, dilation, k, multiplier, form, traced, monkeypatch):
    monkeypatch.setenv("TFNAS_KERNEL_FORM", form)
    rng = np.random.default_rng([20, stride, dilation, k, multiplier])
    channels = int(rng.choice([1, 2, 3]))
    x = _image(rng, channels)
    kernel = rng.standard_normal((k, k, channels, multiplier))
    if dilation > 1 and not kernels._native_dilation_works():  # Eigen: refused, `depthwise` falls back
        with pytest.raises(ValueError, match="needs a depthwise kernel that takes the dilation"):
            kernels.repeated_depthwise(tf.constant(x, tf.float32), tf.constant(kernel, tf.float32),
                                       dilation=dilation)
        return
    _check(lambda a, b: kernels.repeated_depthwise(a, b, stride=stride, dilation=dilation),
           lambda a, b: _ref_depthwise(a, b, stride, dilation), [x, kernel], traced=traced, rng=rng)


def test_repeated_depthwise_refuses_stride_with_dilation():
    with pytest.raises(ValueError, match="stride and dilation"):
        kernels.repeated_depthwise(tf.zeros([1, 5, 5, 1]), tf.zeros([3, 3, 1, 2]), stride=2, dilation=2)


@TRACED
@FORMS
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_undilated_depthwise(stride, k, form, traced, monkeypatch):
    monkeypatch.setenv("TFNAS_KERNEL_FORM", form)
    rng = np.random.default_rng([12, stride, k])
    channels, multiplier = int(rng.choice([1, 3])), int(rng.choice([1, 2]))
    x = _image(rng, channels)
    kernel = rng.standard_normal((k, k, channels, multiplier))
    _check(lambda a, b: kernels.undilated_depthwise(a, b, stride),
           lambda a, b: _ref_depthwise(a, b, stride), [x, kernel], traced=traced, rng=rng)


def _ref_edge_matmul(x, kernel, sources, targets, channels, multiplier_layout):
    outs = []
    for s in range(sources):
        for t in range(targets):
            if multiplier_layout:  # edge (s, t) reads channels (s, c, t)
                index = [(s * channels + c) * targets + t for c in range(channels)]
            else:  # channels (s, t, c)
                index = [(s * targets + t) * channels + c for c in range(channels)]
            outs.append(tf.einsum("bhwc,cd->bhwd", tf.gather(x, index, axis=-1), kernel[s * targets + t]))
    return tf.concat(outs, axis=-1)


@TRACED
@pytest.mark.parametrize("path", ["block_diagonal", "batched"])
@pytest.mark.parametrize("multiplier_layout", [True, False])
@pytest.mark.parametrize("sources, targets", [(1, 1), (1, 3), (2, 4), (3, 1)])
def test_edge_matmul(sources, targets, multiplier_layout, path, traced, monkeypatch):
    monkeypatch.setattr(kernels, "BLOCK_DIAGONAL_MAX_CHANNELS", 10**6 if path == "block_diagonal" else 0)
    rng = np.random.default_rng([13, sources, targets, multiplier_layout])
    channels, out = int(rng.choice([1, 3, 4])), int(rng.choice([1, 2, 5]))
    edges = sources * targets
    x = _image(rng, edges * channels)
    kernel = rng.standard_normal((edges, channels, out))
    kw = dict(sources=sources, targets=targets, channels=channels, multiplier_layout=multiplier_layout)
    _check(lambda a, b: kernels.edge_matmul(a, b, **kw), lambda a, b: _ref_edge_matmul(a, b, **kw),
           [x, kernel], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("channels", [8, 9])  # 8 edges: 64 channels (block-diagonal), 72 (batched)
@pytest.mark.parametrize("multiplier_layout", [True, False])
def test_edge_matmul_at_the_default_threshold(channels, multiplier_layout, traced):
    assert kernels.BLOCK_DIAGONAL_MAX_CHANNELS == 64
    rng = np.random.default_rng([14, channels, multiplier_layout])
    x = rng.standard_normal((2, 5, 6, 8 * channels))
    kernel = rng.standard_normal((8, channels, 3))
    kw = dict(sources=2, targets=4, channels=channels, multiplier_layout=multiplier_layout)
    _check(lambda a, b: kernels.edge_matmul(a, b, **kw), lambda a, b: _ref_edge_matmul(a, b, **kw),
           [x, kernel], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_source_matmul(seed, traced):
    rng = np.random.default_rng([15, seed])
    channels, out = [(1, 3), (4, 1), (3, 8)][seed]
    x = _image(rng, channels)
    kernel = rng.standard_normal((channels, out))
    _check(kernels.source_matmul, lambda a, b: tf.einsum("bhwc,cd->bhwd", a, b), [x, kernel], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool(mode, stride, seed, traced):
    rng = np.random.default_rng([16, stride, seed])
    x = _image(rng, [1, 3][seed])
    _check(lambda a: kernels.pool(a, mode, stride), lambda a: _ref_pool(a, mode, stride), [x], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("channels", [0, 1, 6])
@pytest.mark.parametrize("scaled", [False, True])
def test_batch_norm(scaled, channels, traced):
    rng = np.random.default_rng([17, scaled, channels])
    x = _image(rng, channels) * 3.0 + 1.5
    if scaled:
        scale = rng.uniform(0.2, 2.0, (channels,))
        _check(kernels.batch_norm, _ref_batch_norm, [x, scale], traced=traced, rng=rng)
    else:
        _check(kernels.batch_norm, _ref_batch_norm, [x], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("targets, half", [(1, 1), (1, 3), (3, 1), (4, 2)])
def test_interleave_halves(targets, half, traced):
    rng = np.random.default_rng([18, targets, half])
    a = _image(rng, targets * half)
    b = rng.standard_normal(a.shape)

    def reference(a, b):
        parts = []
        for t in range(targets):
            parts += [a[..., t * half : (t + 1) * half], b[..., t * half : (t + 1) * half]]
        return tf.concat(parts, axis=-1)

    _check(lambda a, b: kernels.interleave_halves(a, b, targets), reference, [a, b], traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("groups, channels", [(1, 3), (2, 2), (2, 6), (4, 8), (3, 3)])
def test_channel_shuffle(groups, channels, traced):
    rng = np.random.default_rng([19, groups, channels])
    x = _image(rng, channels)
    per_group = channels // groups
    source = np.empty(channels, np.int32)  # output channel j * groups + g reads g * (C / groups) + j
    for g in range(groups):
        for j in range(per_group):
            source[j * groups + g] = g * per_group + j
    _check(lambda a: kernels.channel_shuffle(a, groups), lambda a: tf.gather(a, source, axis=-1), [x],
           traced=traced, rng=rng)


# ---------------------------------------------------------------------------------------
# single-path (sampled cell) kernels, on blocks of n edges (n = 0 included)

#: Rows of each per-edge weight table.
TABLE_ROWS = 4


def _selection(rng, n):
    return rng.choice(TABLE_ROWS, size=n, replace=False).astype(np.int32)


def _check_block(ours, op, x, table, sel, channels, *, traced, rng):
    """A block kernel applied through `as_edges` / `gather_rows` / `first_channels` (as the
    sampled cell does) against `_ref_per_edge`; traced with a dynamic channel count and a
    dynamic selection. For an empty block, the output has 0 channels and the table's
    gradient is exactly zero; rows no edge selected always get exactly zero."""
    height_width = list(x.shape[1:3])
    specs = [[x.shape[0]] + height_width + [None], list(table.shape), [None]]
    got, _ = _check(ours, lambda a, t, s: _ref_per_edge(a, t, s, op, channels), [x, table], [sel],
                    traced=traced, rng=rng, specs=specs)
    y, _, table_grad = got
    assert y.shape[0] == x.shape[0]
    unselected = [r for r in range(TABLE_ROWS) if r not in set(sel.tolist())]
    np.testing.assert_array_equal(table_grad[unselected], 0.0)
    if len(sel) == 0:
        assert y.shape[-1] == 0
        np.testing.assert_array_equal(table_grad, 0.0)
    else:
        assert np.abs(table_grad).max() > 0
    return got


def _through_as_edges(kernel, channels, stride, out=None):
    """`kernel(r, rows)` on `x`'s block of edges as the sampled cell runs it (`out`: the
    kernel's output channels per edge, default `channels`)."""

    def run(x, table, sel):
        r, rows, size, batch = kernels.as_edges(x, channels, sel)
        y = kernel(r, kernels.gather_rows(table, rows))
        if out is not None:
            size = size // channels * out
        return kernels.first_channels(y, size, batch, kernels.strided_size(x, stride))

    return run


@TRACED
@pytest.mark.parametrize("n, via_as_edges", [(0, True), (1, True), (3, True), (1, False), (3, False)])
def test_block_matmul(n, via_as_edges, traced):
    """Through `as_edges` (`padded=True`), and called directly (only a non-empty block is)."""
    rng = np.random.default_rng([20, n, via_as_edges])
    channels, out = int(rng.choice([1, 3])), int(rng.choice([1, 4]))
    x = _image(rng, n * channels)
    table = rng.standard_normal((TABLE_ROWS, channels, out))
    sel = _selection(rng, n)
    if via_as_edges:
        ours = _through_as_edges(lambda r, w: kernels.block_matmul(r, w, padded=True), channels, 1, out)
    else:
        ours = lambda a, t, s: kernels.block_matmul(a, kernels.gather_rows(t, s))
    _check_block(ours, lambda a, w: tf.einsum("bhwc,cd->bhwd", a, w), x, table, sel, channels,
                 traced=traced, rng=rng)


@TRACED
@FORMS
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("stride, dilation, k", [(1, 1, 3), (1, 1, 5), (2, 1, 5), (1, 2, 3), (1, 2, 5), (2, 2, 3)])
def test_block_depthwise(stride, dilation, k, n, form, traced, monkeypatch):
    """With each kernel-gradient formulation: the "EXPLICIT" one runs Eigen's filter backprop,
    whose value on the empty block's zero batch is unspecified; the stand-in row's gradient
    is dropped, so the checked gradients must still be exact."""
    monkeypatch.setenv("TFNAS_KERNEL_FORM", form)
    rng = np.random.default_rng([21, stride, dilation, k, n])
    channels = int(rng.choice([1, 2, 4]))
    x = _image(rng, n * channels)
    table = rng.standard_normal((TABLE_ROWS, k, k, channels))
    sel = _selection(rng, n)
    ours = _through_as_edges(lambda r, w: kernels.block_depthwise(r, w, stride=stride, dilation=dilation),
                             channels, stride)
    _check_block(ours, lambda a, w: _ref_depthwise(a, w[..., None], stride, dilation), x, table, sel, channels,
                 traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("stride, k", [(1, 3), (2, 3), (1, 1), (2, 5)])
def test_block_conv(stride, k, n, traced):
    rng = np.random.default_rng([22, stride, k, n])
    channels, out = int(rng.choice([1, 2, 3])), int(rng.choice([1, 3]))
    x = _image(rng, n * channels)
    table = rng.standard_normal((TABLE_ROWS, k, k, channels, out))
    sel = _selection(rng, n)
    ours = _through_as_edges(lambda r, w: kernels.block_conv(r, w, stride=stride), channels, stride, out)
    _check_block(ours, lambda a, w: _ref_conv(a, w, stride), x, table, sel, channels, traced=traced, rng=rng)


@TRACED
@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_block_pool(mode, stride, n, traced):
    rng = np.random.default_rng([23, stride, n])
    channels = int(rng.choice([1, 3]))
    x = _image(rng, n * channels)
    specs = [[x.shape[0], x.shape[1], x.shape[2], None]]

    def reference(a):
        if n == 0:  # (extract_patches has no gradient for zero channels)
            return tf.zeros([x.shape[0], -(-x.shape[1] // stride), -(-x.shape[2] // stride), 0])
        return _ref_pool(a, mode, stride)

    got, _ = _check(lambda a: kernels.block_pool(a, mode, stride, channels=channels), reference, [x],
                    traced=traced, rng=rng, specs=specs)
    assert got[0].shape == (x.shape[0], -(-x.shape[1] // stride), -(-x.shape[2] // stride), n * channels)


@TRACED
@pytest.mark.parametrize("n", [0, 1, 3])
def test_as_edges_and_first_channels(n, traced):
    """`as_edges` reads an empty block as a zero batch of one edge with a stand-in row (read
    from row 0, gradient to row -1, i.e. dropped); `first_channels` undoes it."""
    rng = np.random.default_rng([24, n])
    channels = 3
    x = tf.constant(_image(rng, n * channels).astype(np.float32))
    sel = tf.constant(_selection(rng, n))

    def run(x, sel):
        with tf.GradientTape() as tape:
            tape.watch(x)
            r, rows, size, batch = kernels.as_edges(x, channels, sel)
            y = kernels.first_channels(r * 2.0, size, batch)
        return tf.shape(r), rows.gather, rows.segments, y, tape.gradient(y, x, output_gradients=tf.ones_like(y))

    if traced:
        signature = [tf.TensorSpec(list(x.shape[:3]) + [None]), tf.TensorSpec([None], tf.int32)]
        run = tf.function(run, input_signature=signature, autograph=False)
    shape, gather, segments, y, grad = (np.asarray(t) for t in run(x, sel))
    batch, height, width = x.shape[:3]
    if n == 0:
        assert shape.tolist() == [0, height, width, channels]
        assert gather.tolist() == [0] and segments.tolist() == [-1]
    else:
        assert shape.tolist() == list(x.shape)
        assert gather.tolist() == segments.tolist() == sel.numpy().tolist()
    assert y.shape == tuple(x.shape)
    np.testing.assert_array_equal(y, 2.0 * x.numpy())
    np.testing.assert_array_equal(grad, np.full(x.shape, 2.0))


@TRACED
@pytest.mark.parametrize("rows, segments", [([2, 0, 3], [2, 0, 3]), ([1, 1, 4, 1], [1, 1, 4, 1]), ([], []),
                                            ([0], [-1]), ([3, 0], [3, -1])])
def test_gather_rows(rows, segments, traced):
    """`gather_rows` reads `table[rows]`; row `i`'s gradient goes to `segments[i]`, or nowhere (-1)."""
    rng = np.random.default_rng([25, len(rows)])
    table = rng.standard_normal((5, 2, 3))
    rows_, segments_ = np.asarray(rows, np.int32), np.asarray(segments, np.int32)

    def reference(t, r, s):
        y = tf.gather(t, r)
        kept = tf.reshape(s >= 0, [-1, 1, 1])
        return tf.where(kept, y, tf.stop_gradient(y))

    got, _ = _check(lambda t, r, s: kernels.gather_rows(t, kernels.EdgeRows(r, s)), reference,
                    [table], [rows_, segments_], traced=traced, rng=rng)
    dropped = sorted(set(range(5)) - {s for s in segments if s >= 0})
    np.testing.assert_array_equal(got[1][dropped], 0.0)


@TRACED
@pytest.mark.parametrize("sources, targets, channels", [(1, 1, 3), (1, 3, 1), (2, 4, 2), (3, 2, 1)])
def test_gather_and_scatter_edges(sources, targets, channels, traced):
    rng = np.random.default_rng([26, sources, targets, channels])
    edges = sources * targets
    order = rng.permutation(edges).astype(np.int32)  # the edge at each position
    inverse = np.argsort(order).astype(np.int32)  # the position of each edge
    x = _image(rng, sources * channels)
    kw = dict(sources=sources, targets=targets, channels=channels)

    def gather_reference(a, order, inverse):
        return tf.concat([a[..., s * channels : (s + 1) * channels] for s in order.numpy() // targets], axis=-1)

    _check(lambda a, o, i: kernels.gather_edges(a, o // targets, i, **kw), gather_reference, [x],
           [order, inverse], traced=traced, rng=rng)

    y = rng.standard_normal(x.shape[:3] + (edges * channels,))

    def scatter_reference(a, order, inverse):
        position = inverse.numpy()
        per_target = []
        for t in range(targets):
            parts = [a[..., position[s * targets + t] * channels : (position[s * targets + t] + 1) * channels]
                     for s in range(sources)]
            per_target.append(tf.add_n(parts))
        return tf.stack(per_target, axis=3)

    _check(lambda a, o, i: kernels.scatter_edges(a, o, i, **kw), scatter_reference, [y], [order, inverse],
           traced=traced, rng=rng)


# ---------------------------------------------------------------------------------------
# a whole sampled cell


def _sampled_index(cell, rng):
    """A sampled op per edge such that in every group one op is sampled by no edge and one
    by exactly one edge (the others at random from the rest)."""
    index = np.zeros(len(cell.edges), np.int32)
    ops_ = len(cell.op_names)
    for sources, targets in cell.groups:
        rows = cell._group_edges(sources, targets)
        perm = rng.permutation(ops_)
        index[rows[0]] = perm[1]  # sampled exactly once; perm[0] never
        for row in rows[1:]:
            index[row] = rng.choice(perm[2:])
    return index


@TRACED
@pytest.mark.parametrize("space, reduction", [("nb201", False), ("darts", False), ("darts", True)])
def test_gumbel_cell_is_the_weighted_sum_of_single_ops(space, reduction, traced):
    rng = np.random.default_rng([27, space == "darts", reduction])
    op_names = darts_space.OPS if space == "darts" else nb201_space.OPS
    kwargs = dict(channels=4, op_names=op_names, mixing="gumbel", seed=5)
    if space == "darts":
        kwargs.update(reduction=reduction, prev_prev_channels=6, prev_channels=5)
        inputs = [rng.standard_normal((2, 8, 8, 6)), rng.standard_normal((2, 8, 8, 5))]
    else:
        inputs = [rng.standard_normal((2, 8, 8, 4))]
    cell = SearchCell(space, **kwargs)
    cell.build()
    variables = list(cell.trainable_variables)
    index = _sampled_index(cell, rng)
    hard = rng.uniform(0.5, 1.5, (len(cell.edges), len(op_names)))
    floats = [tf.constant(a.astype(np.float32)) for a in inputs + [hard]]
    cell_inputs = (lambda xs: (xs[0], xs[1])) if space == "darts" else (lambda xs: xs[0])

    def reference(floats):
        *xs, hard_ = floats
        return reference_cell(cell, cell_inputs(xs),
                              lambda e: [(op_names[index[e]], hard_[e, int(index[e])])])

    def ours(floats, index_):
        *xs, hard_ = floats
        return cell(cell_inputs(xs), {"hard": hard_, "index": index_})

    def value_and_grads(fn, floats, dy, *args):
        with tf.GradientTape() as tape:
            tape.watch(floats)
            y = fn(floats, *args)
        # (no `unconnected_gradients=ZERO`: it fails on Keras variables, whose dtype is a string)
        grads = tape.gradient(y, floats + variables, output_gradients=dy)
        return [y] + [tf.zeros(v.shape) if g is None else tf.convert_to_tensor(g)
                      for v, g in zip(floats + variables, grads)]

    dy = tf.constant(rng.standard_normal(reference(floats).shape).astype(np.float32))
    want = value_and_grads(reference, floats, dy)
    run = tf.function(value_and_grads, autograph=False) if traced else value_and_grads
    got = [np.asarray(t) for t in run(ours, floats, dy, tf.constant(index))]
    names = ["output"] + [f"input {i}" for i in range(len(inputs))] + ["hard"] + [v.path for v in variables]
    assert len(got) == len(want) == len(names)
    for name, g, w in zip(names, got, want):
        _assert_close(g, w, name)
    # `hard` gets gradient only at each edge's sampled op; the weights of an op that no edge
    # of a group sampled (an empty block) get exactly zero (the rest matched the reference)
    hard_grad = got[len(inputs) + 1]
    off = np.ones(hard_grad.shape, bool)
    off[np.arange(len(index)), index] = False
    np.testing.assert_array_equal(hard_grad[off], 0.0)
    counts = {}
    for g, (sources, targets) in enumerate(cell.groups):
        for e in cell._group_edges(sources, targets):
            counts[g, op_names[index[e]]] = counts.get((g, op_names[index[e]]), 0) + 1
    seen = set()
    for name, g in zip(names[len(inputs) + 2 :], got[len(inputs) + 2 :]):
        group_op = next(((gi, op) for gi in range(len(cell.groups)) for op in op_names
                         if f"/g{gi}_{op}_" in name), None)
        if group_op is None:  # DARTS preprocessing
            continue
        count = counts.get(group_op, 0)
        seen.add(min(count, 2))
        if count == 0:
            np.testing.assert_array_equal(g, 0.0, err_msg=name)
    assert {0, 1} <= seen  # weighted ops with an empty and with a one-edge block were checked
