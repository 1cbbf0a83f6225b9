"""The plain-Keras deployment model: exact rewrites of tfnas layers, uint8 in, probabilities out."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from export.serving import serving_model, to_plain_keras
from tfnas.children import build_child
from tfnas.genotypes import codec
from tfnas.ops.cell_ops import SymmetricPooling2D

# An NB201 cell with a `none` edge (a Zero layer) and an average pool.
NB201_WITH_NONE = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"


def _foreign(model: keras.Model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers if not type(layer).__module__.startswith("keras.")]


@pytest.mark.parametrize(
    "genotype, kwargs",
    [
        ("darts_v2", {"channels": 4, "layers": 3, "input_size": 16, "drop_path_rate": 0.3}),
        (NB201_WITH_NONE, {"channels": 4, "layers": 1, "input_size": 16}),
    ],
)
def test_plain_copy_is_stock_keras_and_identical(genotype, kwargs):
    network = build_child(codec.load(genotype), **kwargs)
    assert _foreign(network), "the test network should hold tfnas layers to rewrite"
    plain = to_plain_keras(network)
    assert _foreign(plain) == []
    x = np.random.default_rng(0).normal(size=(3, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(network(x, training=False), plain(x, training=False))
    # The copy shares the trained weights (DropPath's rate variable is all it leaves out).
    assert {id(v) for v in plain.trainable_variables} == {id(v) for v in network.trainable_variables}


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size", [7, 8])
def test_symmetric_pooling_rewrite_exact_on_odd_and_even_sizes(mode, size):
    inputs = keras.Input((size, size, 2))
    model = keras.Model(inputs, SymmetricPooling2D(mode, 3, 2, name="pool")(inputs))
    x = np.random.default_rng(1).normal(size=(2, size, size, 2)).astype("float32") - 3.0  # all-negative max case
    np.testing.assert_allclose(model(x), to_plain_keras(model)(x), atol=1e-6, rtol=0)


def test_serving_model_normalizes_in_graph_and_returns_probabilities():
    from tfnas import data

    network = build_child(codec.load("darts_v2"), channels=4, layers=2, input_size=16)
    deploy = serving_model(to_plain_keras(network), dataset="cifar10")
    assert deploy.inputs[0].dtype == "uint8"
    images = np.random.default_rng(2).integers(0, 256, size=(4, 16, 16, 3)).astype("uint8")
    got = np.asarray(deploy(images))
    mean, std = data.resolve_stats("cifar10")
    expected = keras.ops.softmax(network(data.normalize(images, mean, std), training=False))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)


def test_clear_errors():
    network = build_child(codec.load("darts_v2"), channels=4, layers=3, input_size=32, auxiliary=True)
    with pytest.raises(ValueError, match="auxiliary"):
        to_plain_keras(network)
    plain = to_plain_keras(build_child(codec.load("darts_v2"), channels=4, layers=2, input_size=16))
    with pytest.raises(ValueError, match="No normalization statistics"):
        serving_model(plain, dataset="svhn")


@pytest.mark.parametrize("mode", ["weights", "pcnn"])
def test_binarized_network_exports_its_one_bit_weights_as_constants(mode):
    network = build_child(codec.load("darts_v2"), channels=4, layers=3, input_size=16, binarized=mode)
    plain = to_plain_keras(network)
    assert _foreign(plain) == []
    x = np.random.default_rng(0).normal(size=(3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(network(x, training=False), plain(x, training=False), rtol=1e-5, atol=1e-5)
    folded = [layer for layer in plain.layers if layer.name.endswith("_1bit")]
    assert folded
    for layer in folded:  # each output channel's kernel holds +-scale only
        w = np.abs(layer.get_weights()[0])
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        per_channel = w.reshape(-1, w.shape[2] * w.shape[3]) if depthwise else w.reshape(-1, w.shape[3])
        assert np.ptp(per_channel, axis=0).max() < 1e-6
        if mode == "pcnn":  # one scale for the whole layer, and no projection matrix kept
            assert np.ptp(w) < 1e-6 and len(layer.get_weights()) == 1
    with_signs = build_child(codec.load("darts_v2"), channels=4, layers=3, input_size=16,
                             binarized="weights_activations")
    with pytest.raises(ValueError, match="binarizes its activations"):
        to_plain_keras(with_signs)
