"""Minimal repros, in plain TensorFlow, of the CPU kernel bugs tfnas works around.

Each test passes while the bug is present and fails once TensorFlow fixes it: then the
workaround its docstring names can be revisited. They run under both kernel libraries
(`make test` runs this folder on TensorFlow's default library and again on the other one;
oneDNN is TF's default only on CPUs with AVX-512 VNNI / BF16 or AMX).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port

pytestmark = pytest.mark.tf_bug

ONEDNN = _pywrap_util_port.IsMklEnabled()


def _cpu_label() -> str:
    flags = []
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next(line for line in f if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        pass
    vector = sorted(f for f in flags if f.startswith(("avx", "amx")))
    return f"vector extensions {vector}, {'oneDNN' if ONEDNN else 'Eigen'} kernels"


def test_eigen_depthwise_filter_backprop_on_a_zero_batch_returns_uninitialised_memory():
    """Eigen's `DepthwiseConv2dNativeBackpropFilter` on a zero batch should return zeros (an
    empty sum) but returns whatever its output buffer held: values up to 1e36, on 2-core
    AMD EPYCs with AVX2 and no AVX-512 (eager; inside a `tf.function` the graph optimizer
    folded it to zeros). Eigen is TensorFlow's default kernel library on such CPUs, which
    is why the bug looked CPU-dependent: AVX-512 machines run oneDNN by default, whose
    kernel returns zeros (asserted too). Should the garbage not show in 20 trials under
    Eigen, the test xfails naming the CPU.

    tfnas workaround: `kernels.as_edges` gives an empty single-path block's stand-in weight
    row the gradient segment -1, which `kernels.gather_rows` drops, so this kernel's
    output on a zero batch is never read, under either library."""
    worst = 0.0
    for trial in range(20):
        k, stride = (3, 1) if trial % 2 else (5, 2)
        out = 8 if stride == 1 else 4
        # dirty the allocator with large values, so a buffer reused uninitialised shows it
        junk = [tf.random.normal([k, k, 8, 1], seed=trial) * 1e30 for _ in range(8)]
        del junk
        grad = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=tf.zeros([0, 8, 8, 8]), filter_sizes=[k, k, 8, 1], out_backprop=tf.zeros([0, out, out, 8]),
            strides=[1, stride, stride, 1], padding="SAME")
        worst = max(worst, float(np.abs(grad.numpy()).max()))
    if ONEDNN:
        assert worst == 0.0
    elif worst == 0.0:
        pytest.xfail(f"the bug did not show in 20 trials on this CPU ({_cpu_label()})")
    else:
        assert worst > 0.0


def test_full_conv_and_matmul_weight_gradients_on_a_zero_batch_are_zero_here():
    """The contrast to the bug above, measured on the same CPUs: the full conv's filter
    backprop and a matmul with an empty inner dimension return zeros. tfnas does not rely
    on it either (the same dropped gradient row covers them)."""
    conv = tf.raw_ops.Conv2DBackpropFilter(
        input=tf.zeros([0, 8, 8, 8]), filter_sizes=[3, 3, 8, 8], out_backprop=tf.zeros([0, 8, 8, 8]),
        strides=[1, 1, 1, 1], padding="SAME")
    product = tf.matmul(tf.zeros([0, 8]), tf.zeros([0, 8]), transpose_a=True)
    np.testing.assert_array_equal(conv.numpy(), 0.0)
    np.testing.assert_array_equal(product.numpy(), 0.0)


def _dilated_case():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 9, 9, 3)), tf.float32)
    kernel = tf.constant(rng.standard_normal((3, 3, 3, 1)), tf.float32)
    dy = tf.constant(rng.standard_normal((2, 9, 9, 3)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        y = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME", dilations=[2, 2])  # space-to-batch form
    dx, dk = tape.gradient(y, [x, kernel], output_gradients=dy)
    return x, kernel, dy, y, dx, dk


def test_native_dilated_depthwise_forward():
    """oneDNN's depthwise kernel takes a dilation and computes the dilated conv; Eigen's
    refuses it. tfnas probes this once (`kernels._native_dilation_works`) and calls the
    native kernel only where it is right."""
    x, kernel, _, reference, _, _ = _dilated_case()

    def native():
        return tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=kernel, strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1])

    if ONEDNN:
        np.testing.assert_allclose(native().numpy(), reference.numpy(), atol=1e-5)
    else:
        with pytest.raises((tf.errors.UnimplementedError, tf.errors.InvalidArgumentError)):
            native()


def test_depthwise_backprop_kernels_ignore_the_dilation():
    """`DepthwiseConv2dNativeBackpropInput` / `...BackpropFilter` with `dilations=2` do not
    compute the gradient of the dilated conv: under oneDNN and Eigen alike they accept the
    attribute silently and return the undilated conv's gradient (measured on the AVX2-only
    EPYC; Eigen's forward kernel, by contrast, refuses the dilation). Should a library
    start refusing it, the test accepts that outside oneDNN.

    tfnas workaround: `kernels.dilated_depthwise`'s own gradient: the input gradient is
    the native dilated conv of the output gradient with the flipped kernel, the filter
    gradient the space-to-batch form's, inside the backward op."""
    x, kernel, dy, _, dx, dk = _dilated_case()
    attrs = dict(strides=[1, 1, 1, 1], padding="SAME", dilations=[1, 2, 2, 1])

    def backprops():
        native_dx = tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
            input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, **attrs)
        native_dk = tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
            input=x, filter_sizes=tf.shape(kernel), out_backprop=dy, **attrs)
        return native_dx, native_dk

    try:
        native_dx, native_dk = backprops()
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
        assert not ONEDNN, "oneDNN's depthwise backprop kernels used to accept the dilation attribute"
        return
    assert not np.allclose(native_dx.numpy(), dx.numpy(), atol=1e-3)
    assert not np.allclose(native_dk.numpy(), dk.numpy(), atol=1e-3)
    # what they compute instead: the gradient of the undilated conv
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, kernel])
        y = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
    undilated_dx, undilated_dk = tape.gradient(y, [x, kernel], output_gradients=dy)
    np.testing.assert_allclose(native_dx.numpy(), undilated_dx.numpy(), atol=1e-4)
    np.testing.assert_allclose(native_dk.numpy(), undilated_dk.numpy(), atol=1e-4)


def test_this_process_kernel_library_matches_the_switch():
    """The two runs of this folder cover both libraries only if TF honours the switch."""
    switch = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if switch in ("0", "1"):
        assert ONEDNN == (switch == "1")
