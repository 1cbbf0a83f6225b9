"""The hand-written kernels against TensorFlow's own formulations (values and gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.supernets import kernels


def _value_and_grads(fn, x, kernel, dy):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = fn(x, kernel)
    return [y] + tape.gradient(y, [x, kernel], output_gradients=dy)


def _close(got, want, rtol=1e-4):
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=rtol, atol=rtol * float(np.abs(w).max()))


@pytest.mark.parametrize("multiplier, height", [(1, 8), (3, 7)])
@pytest.mark.parametrize("traced", [False, True])
def test_dilated_depthwise_matches_space_to_batch(multiplier, height, traced):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, height, height, 4)), tf.float32)
    kernel = tf.constant(rng.standard_normal((3, 3, 4, multiplier)), tf.float32)
    dy = tf.constant(rng.standard_normal((2, height, height, 4 * multiplier)), tf.float32)

    def ours():
        return _value_and_grads(lambda a, b: kernels.dilated_depthwise(a, b, 2), x, kernel, dy)

    want = _value_and_grads(
        lambda a, b: tf.nn.depthwise_conv2d(a, b, [1, 1, 1, 1], "SAME", dilations=[2, 2]), x, kernel, dy)
    _close(tf.function(ours)() if traced else ours(), want)


@pytest.mark.parametrize("k, multiplier", [(3, 1), (5, 2)])
def test_undilated_depthwise_at_stride_2_matches_explicit_padding(k, multiplier):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((2, 8, 8, 3)), tf.float32)
    kernel = tf.constant(rng.standard_normal((k, k, 3, multiplier)), tf.float32)
    dy = tf.constant(rng.standard_normal((2, 4, 4, 3 * multiplier)), tf.float32)
    p = (k - 1) // 2
    want = _value_and_grads(
        lambda a, b: tf.nn.depthwise_conv2d(tf.pad(a, [[0, 0], [p, p], [p, p], [0, 0]]), b, [1, 2, 2, 1], "VALID"),
        x, kernel, dy)
    got = tf.function(lambda: _value_and_grads(lambda a, b: kernels.undilated_depthwise(a, b, 2), x, kernel, dy))()
    _close(got, want)


@pytest.mark.parametrize("channels_in", [0, 8])
def test_stand_in_edge_round_trip(channels_in):
    x = tf.ones((3, 4, 4, channels_in))

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            padded, size, batch = kernels.pad_to_one_edge(x, 8)
            out = kernels.first_channels(padded * 2.0, size, batch)
            total = tf.reduce_sum(out)
        return padded, out, tape.gradient(total, x, unconnected_gradients="zero")

    padded, out, grad = run(x)
    assert padded.shape == ((3, 4, 4, 8) if channels_in else (1, 4, 4, 8))
    np.testing.assert_array_equal(np.asarray(padded), 1.0 if channels_in else 0.0)
    assert out.shape == (3, 4, 4, channels_in)
    np.testing.assert_array_equal(np.asarray(out), 2.0 * np.asarray(x))
    np.testing.assert_array_equal(np.asarray(grad), np.full(x.shape, 2.0))


@pytest.mark.parametrize("traced", [True, False])
@pytest.mark.parametrize("channels_in", [0, 8, 16])
def test_empty_block_as_zero_batch(channels_in, traced):
    """An empty block runs every weighted single-path kernel on a zero batch of one edge;
    the weights (row 0 of the tables) must then get exactly zero gradients."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((3, 8, 8, channels_in)), tf.float32)
    tables = {  # per-edge tables of 3 edges with 8 channels
        "dw3": tf.constant(rng.standard_normal((3, 3, 3, 8)), tf.float32),
        "dw5": tf.constant(rng.standard_normal((3, 5, 5, 8)), tf.float32),
        "pw": tf.constant(rng.standard_normal((3, 8, 8)), tf.float32),
        "conv": tf.constant(rng.standard_normal((3, 3, 3, 8, 8)), tf.float32),
    }
    sel = tf.constant([2, 0][: channels_in // 8], tf.int32)

    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(list(tables.values()))
            r, rows, size, batch = kernels.as_edges(x, 8, sel)
            pick = {name: kernels.gather_rows(t, rows) for name, t in tables.items()}
            outs = [
                kernels.block_matmul(kernels.block_depthwise(r, pick["dw3"], stride=2), pick["pw"], padded=True),
                kernels.block_depthwise(r, pick["dw5"], dilation=2),
                kernels.block_depthwise(r, pick["dw3"]),
                kernels.block_conv(r, pick["conv"], stride=2),
                kernels.batch_norm(kernels.block_conv(r, pick["conv"])),
                kernels.block_pool(x, "avg", 2, channels=8),
                kernels.block_pool(x, "max", 1, channels=8),
            ]
            strides = [2, 1, 1, 2, 1]
            outs = [kernels.first_channels(y, size, batch, kernels.strided_size(x, s))
                    for y, s in zip(outs, strides)] + outs[5:]
            total = tf.add_n([tf.reduce_sum(y * y) for y in outs])
        grads = tape.gradient(total, tables)
        return r, rows, outs, {name: tf.convert_to_tensor(g) for name, g in grads.items()}

    r, rows, outs, grads = (tf.function(run) if traced else run)(x)
    if channels_in == 0:
        assert r.shape == (0, 8, 8, 8) and list(np.asarray(rows.gather)) == [0]
        assert list(np.asarray(rows.segments)) == [-1]
        for name, g in grads.items():
            np.testing.assert_array_equal(np.asarray(g), 0.0, err_msg=name)
    else:
        assert r.shape == x.shape and list(np.asarray(rows.gather)) == list(np.asarray(sel))
        assert list(np.asarray(rows.segments)) == list(np.asarray(sel))
        assert all(float(np.abs(np.asarray(g)).sum()) > 0 for g in grads.values())
    for y, side in zip(outs, [4, 8, 8, 4, 8, 4, 8]):
        assert tuple(y.shape) == (3, side, side, channels_in)


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("rows", [[2, 0, 3], [1, 1, 4, 1], []])
def test_gather_rows_matches_tf_gather_with_its_gradient(rows, traced):
    table = tf.constant(np.random.default_rng(0).normal(size=(5, 2, 3)), tf.float32)
    weights = tf.constant(np.random.default_rng(1).normal(size=(len(rows), 2, 3)), tf.float32)
    index = tf.constant(rows, tf.int32)

    def both(t):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(t)
            ours = kernels.gather_rows(t, index)
            reference = tf.gather(t, index)
            loss_ours = tf.reduce_sum(ours * weights)
            loss_reference = tf.reduce_sum(reference * weights)
        return ours, reference, tape.gradient(loss_ours, t), tf.convert_to_tensor(
            tape.gradient(loss_reference, t))

    fn = tf.function(both, autograph=False) if traced else both
    ours, reference, grad_ours, grad_reference = fn(table)
    np.testing.assert_array_equal(ours.numpy(), reference.numpy())
    np.testing.assert_allclose(grad_ours.numpy(), grad_reference.numpy(), rtol=1e-6, atol=1e-6)
    assert grad_ours.shape == table.shape


@pytest.mark.parametrize("shape", [(8,), (2, 3, 3, 5)])
@pytest.mark.parametrize("traced", [False, True])
def test_repeat_each_matches_tf_repeat_with_its_gradient(shape, traced):
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    upstream = tf.constant(rng.normal(size=shape[:-1] + (shape[-1] * 4,)).astype(np.float32))

    def both(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            ours, theirs = kernels.repeat_each(x, 4), tf.repeat(x, 4, axis=-1)
            loss_ours, loss_theirs = tf.reduce_sum(ours * upstream), tf.reduce_sum(theirs * upstream)
        return ours, theirs, tape.gradient(loss_ours, x), tape.gradient(loss_theirs, x)

    spec = tf.TensorSpec((None,) + shape[1:] if len(shape) > 1 else shape)  # a dynamic batch
    fn = tf.function(both, input_signature=[spec]) if traced else both
    ours, theirs, grad_ours, grad_theirs = fn(x)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_allclose(grad_ours.numpy(), grad_theirs.numpy(), rtol=1e-6, atol=1e-6)


def test_repeat_each_needs_a_static_last_axis():
    fn = tf.function(lambda x: kernels.repeat_each(x, 2), input_signature=[tf.TensorSpec((3, None))])
    with pytest.raises(ValueError, match="static last axis"):
        fn.get_concrete_function()


@pytest.mark.parametrize("shape", [(2, 8, 6, 3), (2, 7, 6, 3), (3, 4, 4, 0), (0, 4, 4, 2)])
@pytest.mark.parametrize("traced", [False, True])
def test_diagonal_phases_match_strided_slices_with_their_gradient(shape, traced):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(shape), tf.float32)
    half = (shape[0], -(-shape[1] // 2), -(-shape[2] // 2), shape[3])
    da = tf.constant(rng.standard_normal(half), tf.float32)
    db = tf.constant(rng.standard_normal((shape[0], shape[1] // 2, shape[2] // 2, shape[3])), tf.float32)

    def run(fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            a, b = fn(x)
            loss = tf.reduce_sum(a * da) + tf.reduce_sum(b * db)
        return [a, b, tape.gradient(loss, x)]

    ours = (tf.function(lambda: run(kernels.diagonal_phases)) if traced else lambda: run(kernels.diagonal_phases))()
    want = run(lambda t: (t[:, ::2, ::2, :], t[:, 1::2, 1::2, :]))
    for got, expected in zip(ours, want):
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got.numpy(), expected.numpy())  # copies only: exact
