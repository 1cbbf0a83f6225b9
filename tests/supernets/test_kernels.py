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
def test_strided_depthwise_matches_explicit_padding(k, multiplier):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((2, 8, 8, 3)), tf.float32)
    kernel = tf.constant(rng.standard_normal((k, k, 3, multiplier)), tf.float32)
    dy = tf.constant(rng.standard_normal((2, 4, 4, 3 * multiplier)), tf.float32)
    p = (k - 1) // 2
    want = _value_and_grads(
        lambda a, b: tf.nn.depthwise_conv2d(tf.pad(a, [[0, 0], [p, p], [p, p], [0, 0]]), b, [1, 2, 2, 1], "VALID"),
        x, kernel, dy)
    got = tf.function(lambda: _value_and_grads(lambda a, b: kernels.strided_depthwise(a, b, 2), x, kernel, dy))()
    _close(got, want)


@pytest.mark.parametrize("channels_in", [0, 8])
def test_stand_in_edge_round_trip(channels_in):
    x = tf.ones((3, 4, 4, channels_in))

    @tf.function
    def run(x):
        padded, size, batch = kernels.pad_to_one_edge(x, 8)
        return padded, kernels.first_channels(padded * 2.0, size, batch)

    padded, out = run(x)
    assert padded.shape == ((3, 4, 4, 8) if channels_in else (1, 4, 4, 8))
    assert out.shape == (3, 4, 4, channels_in)
    np.testing.assert_array_equal(np.asarray(out), 2.0 * np.asarray(x))
