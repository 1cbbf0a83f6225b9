"""Binarized convolutions (tfnas.ops.binary): 1-bit forward, the clipped straight-through
gradient, XNOR-Net's kernel gradient, and binarized cell children."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_config_and_save_roundtrip
from tfnas.children import build_child
from tfnas.genotypes import codec
from tfnas.ops import binary, cell_ops

RNG = np.random.default_rng(0)


def _effective(kernel: np.ndarray, channel_axes: tuple[int, ...]) -> np.ndarray:
    reduce = tuple(a for a in range(kernel.ndim) if a not in channel_axes)
    alpha = np.abs(kernel).mean(axis=reduce, keepdims=True)
    return alpha * np.where(kernel >= 0, 1.0, -1.0)


@pytest.mark.parametrize("activations", [False, True])
def test_binary_conv_forward_uses_only_plus_minus_scale_weights(activations):
    x = RNG.normal(size=(2, 6, 6, 3)).astype("float32")
    layer = binary.BinaryConv2D(4, 3, padding="same", use_bias=False, binarize_activations=activations)
    y = np.asarray(layer(x))
    kernel = np.asarray(layer.kernel)
    effective = _effective(kernel, (3,))
    for c in range(4):  # every output channel's kernel holds exactly two values, +-mean|W|
        assert set(np.round(np.abs(effective[..., c]).ravel(), 6)) == {round(float(np.abs(kernel[..., c]).mean()), 6)}
    inputs = np.where(x >= 0, 1.0, -1.0).astype("float32") if activations else x
    expected = np.asarray(tf.nn.conv2d(inputs, effective.astype("float32"), 1, "SAME"))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_binary_depthwise_forward_scales_per_channel():
    x = RNG.normal(size=(2, 6, 6, 3)).astype("float32")
    layer = binary.BinaryDepthwiseConv2D(3, padding="same", use_bias=False)
    y = np.asarray(layer(x))
    effective = _effective(np.asarray(layer.kernel), (2, 3))
    expected = np.asarray(tf.nn.depthwise_conv2d(x, effective.astype("float32"), [1, 1, 1, 1], "SAME"))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_straight_through_gradient_passes_inside_the_clip_range_only():
    x = tf.constant([-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = binary.sign_ste(x)
    np.testing.assert_array_equal(np.asarray(y), [-1, -1, -1, 1, 1, 1, 1])
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, x)), [0, 1, 1, 1, 1, 1, 0])


def test_kernel_gradient_is_xnor_nets():
    # d/dW sum(G * alpha * sign W) = alpha G 1{|W| <= 1} + sign(W) * sum(G sign W) / n, per channel.
    w = (RNG.normal(size=(3, 3, 2, 4)) * 0.7).astype("float32")
    w[0, 0, 0, 0] = 1.8  # one weight outside the clip range
    g = RNG.normal(size=w.shape).astype("float32")
    wt = tf.Variable(w)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(g * binary.binarize_kernel(wt, (3,)))
    got = np.asarray(tape.gradient(loss, wt))
    s = np.where(w >= 0, 1.0, -1.0)
    n = 3 * 3 * 2
    alpha = np.abs(w).mean(axis=(0, 1, 2), keepdims=True)
    expected = alpha * g * (np.abs(w) <= 1) + s * (g * s).sum(axis=(0, 1, 2), keepdims=True) / n
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert abs(got[0, 0, 0, 0] - expected[0, 0, 0, 0]) < 1e-6 and expected[0, 0, 0, 0] == pytest.approx(
        (g[..., 0] * s[..., 0]).sum() / n)


def test_scope_binarizes_cell_convolutions_but_not_the_stem():
    x = keras.Input((8, 8, 4))
    with binary.binarized():
        a = cell_ops.conv2d(x, 4, 3, name="cell_0_op_conv")
        b = cell_ops.conv2d(x, 4, 3, name="stem_conv")
    model = keras.Model(x, [a, b])
    assert isinstance(model.get_layer("cell_0_op_conv"), binary.BinaryConv2D)
    assert type(model.get_layer("stem_conv")) is keras.layers.Conv2D
    assert type(cell_ops.conv2d(x, 4, 3, name="after")._keras_history.operation) is keras.layers.Conv2D


def _pcnn_layer(depthwise: bool, projection: np.ndarray | None = None):
    layer = (binary.BinaryDepthwiseConv2D(3, padding="same", use_bias=False, method="pcnn") if depthwise
             else binary.BinaryConv2D(4, 3, padding="same", use_bias=False, method="pcnn"))
    layer.build((2, 6, 6, 3))
    if projection is not None:
        layer.projection.assign(projection)
    return layer


@pytest.mark.parametrize("depthwise", [False, True])
def test_pcnn_forward_is_one_scale_for_the_layer_times_the_sign(depthwise):
    x = RNG.normal(size=(2, 6, 6, 3)).astype("float32")
    layer = _pcnn_layer(depthwise, projection=np.full((3, 3), 0.5, "float32"))
    kernel = np.asarray(layer.kernel)
    effective = np.abs(kernel).mean() * np.where(kernel >= 0, 1.0, -1.0).astype("float32")
    assert len(set(np.round(np.abs(np.asarray(layer.binary_kernel())).ravel(), 6))) == 1  # one scale, not per channel
    conv = tf.nn.depthwise_conv2d(x, effective, [1, 1, 1, 1], "SAME") if depthwise else tf.nn.conv2d(x, effective, 1, "SAME")
    for training in (False, True):
        np.testing.assert_allclose(np.asarray(layer(x, training=training)), np.asarray(conv), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("depthwise", [False, True])
def test_pcnn_backward_is_discrete_back_propagation_via_projection(depthwise):
    """dL/dC = dC^ o 1{|W C| <= 1} o W, dL/dW = sum over planes of dC^ o 1 o C, and dC^ is recorded."""
    x = tf.constant(RNG.normal(size=(2, 6, 6, 3)).astype("float32"))
    projection = RNG.uniform(0.5, 8.0, size=(3, 3)).astype("float32")  # some |W C| beyond 1
    layer = _pcnn_layer(depthwise, projection)
    upstream = tf.constant(RNG.normal(size=tuple(layer(x).shape)).astype("float32"))
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    d_kernel, d_projection = tape.gradient(loss, [layer.kernel, layer.projection])
    effective = tf.constant(np.asarray(layer.binary_kernel()))
    with tf.GradientTape() as tape:
        tape.watch(effective)
        plain = (tf.nn.depthwise_conv2d(x, effective, [1, 1, 1, 1], "SAME") if depthwise
                 else tf.nn.conv2d(x, effective, 1, "SAME"))
        d_hat = tape.gradient(tf.reduce_sum(plain * upstream), effective).numpy()
    kernel, w = np.asarray(layer.kernel), projection[:, :, None, None]
    inside = (np.abs(w * kernel) <= 1.0).astype("float32")
    assert 0 < inside.mean() < 1
    np.testing.assert_allclose(d_kernel.numpy(), d_hat * inside * w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d_projection.numpy(), (d_hat * inside * kernel).sum(axis=(2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer.kernel_grad), d_hat, rtol=1e-4, atol=1e-6)


def test_pcnn_projection_loss_is_added_in_training_only_and_is_the_paper_s():
    x = RNG.normal(size=(2, 6, 6, 3)).astype("float32")
    layer = _pcnn_layer(False, RNG.uniform(0.5, 2.0, size=(3, 3)).astype("float32"))
    layer.kernel_grad.assign(RNG.normal(size=layer.kernel.shape).astype("float32"))
    layer(x, training=False)
    assert not layer.losses
    layer(x, training=True)
    kernel, w = np.asarray(layer.kernel), np.asarray(layer.projection)[:, :, None, None]
    target = np.asarray(layer.binary_kernel())
    expected = 0.5 * binary.PCNN_LAMBDA * np.sum((target - w * (kernel + binary.PCNN_ETA * np.asarray(
        layer.kernel_grad))) ** 2)
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="method='xnor' only"):
        binary.BinaryConv2D(4, 3, binarize_activations=True, method="pcnn")


def test_a_pcnn_child_trains_its_projections():
    model = build_child(codec.load("darts_v2"), channels=8, layers=3, binarized="pcnn")
    layers = binary.binary_layers(model)
    assert layers and all(layer.method == "pcnn" for layer in layers)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = RNG.normal(size=(4, 32, 32, 3)).astype("float32")
    y = np.arange(4) % 10
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.allclose(np.asarray(layer.projection), 1.0) for layer in layers)
    assert any(np.abs(np.asarray(layer.kernel_grad)).sum() > 0 for layer in layers)


@pytest.mark.parametrize("mode", ["weights", "weights_activations", "pcnn"])
def test_binarized_child_is_smaller_and_round_trips(mode):
    genotype = codec.load("darts_v2")
    float_model = build_child(genotype, channels=8, layers=3)
    model = build_child(genotype, channels=8, layers=3, binarized=mode)
    training_only = sum(int(np.prod(w.shape)) for layer in binary.binary_layers(model)
                        for w in layer.training_only_weights)
    assert model.count_params() - training_only == float_model.count_params()
    assert (training_only > 0) == (mode == "pcnn")
    size = binary.packed_bytes(model)
    assert size["binary_weights"] > 0 and size["packed_bytes"] < 0.4 * size["float32_bytes"]
    relus = sum(isinstance(layer, keras.layers.ReLU) for layer in model.layers)
    float_relus = sum(isinstance(layer, keras.layers.ReLU) for layer in float_model.layers)
    assert (relus < float_relus) == (mode == "weights_activations")  # the sign replaces the cells' ReLUs
    assert_config_and_save_roundtrip(model, RNG.normal(size=(2, 32, 32, 3)).astype("float32"), atol=1e-4)


def test_binarized_refuses_unknown_modes_and_other_spaces():
    with pytest.raises(ValueError, match="binarized must be None or one of"):
        build_child(codec.load("darts_v2"), channels=8, layers=3, binarized="ternary")
    with pytest.raises(ValueError, match="cell spaces"):
        build_child(codec.load("mobilenet_v2"), dataset="cifar10", binarized="weights")
