"""DARTS / NAS-Bench-201 candidate ops: shapes, parameter counts, exact semantics."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import assert_config_and_save_roundtrip
from tfnas.ops import cell_ops
from tfnas.ops.cell_ops import DARTS_OPS, NB201_OPS, SymmetricPooling2D, Zero
from tfnas.spaces import darts as darts_space
from tfnas.spaces import nb201 as nb201_space


def _params(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_registries_cover_the_spaces():
    assert set(DARTS_OPS.names()) == set(darts_space.OPS)
    assert set(NB201_OPS.names()) == set(nb201_space.OPS)


# Reference parameter counts for C=8 (affine BN: 2*C per BN).
DARTS_PARAMS = {
    "none": 0,
    "max_pool_3x3": 0,
    "avg_pool_3x3": 0,
    "skip_connect": 0,  # identity at stride 1
    "sep_conv_3x3": 2 * (9 * 8 + 64 + 16),
    "sep_conv_5x5": 2 * (25 * 8 + 64 + 16),
    "dil_conv_3x3": 9 * 8 + 64 + 16,
    "dil_conv_5x5": 25 * 8 + 64 + 16,
}


@pytest.mark.parametrize("op", darts_space.OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_darts_op_shapes_and_params(op, stride):
    x = keras.Input((8, 8, 8))
    y = DARTS_OPS.get(op)(x, channels=8, stride=stride, name="op")
    assert tuple(y.shape) == (None, 8 // stride, 8 // stride, 8)
    model = keras.Model(x, y)
    expected = DARTS_PARAMS[op]
    if op == "skip_connect" and stride == 2:
        expected = 2 * 8 * 4 + 16  # FactorizedReduce: two 1x1 convs to C/2, BN
    assert _params(model) == expected
    out = model(np.random.rand(2, 8, 8, 8).astype("float32"), training=False)
    assert np.all(np.isfinite(np.asarray(out)))


def test_search_pooling_bn_is_non_affine():
    x = keras.Input((8, 8, 4))
    y = DARTS_OPS.get("max_pool_3x3")(x, channels=4, stride=1, affine=False, pool_bn=True, name="p")
    model = keras.Model(x, y)
    bn = model.get_layer("p_bn")
    assert not bn.center and not bn.scale
    assert _params(model) == 0


def test_affine_flag_controls_bn_parameters():
    x = keras.Input((8, 8, 4))
    y = DARTS_OPS.get("sep_conv_3x3")(x, channels=4, stride=1, affine=False, name="s")
    assert _params(keras.Model(x, y)) == 2 * (9 * 4 + 16)


def test_layer_names_are_prefixed_and_deterministic():
    x = keras.Input((8, 8, 4))
    y = DARTS_OPS.get("sep_conv_3x3")(x, channels=4, stride=2, name="cell03_op1")
    names = [layer.name for layer in keras.Model(x, y).layers[1:]]
    assert all(name.startswith("cell03_op1_") for name in names)
    assert "cell03_op1_sep1_dw" in names and "cell03_op1_sep2_bn" in names


def _np_pool(x, mode, k=3, s=2):
    p = (k - 1) // 2
    n, h, w, c = x.shape
    out = np.zeros((n, (h - 1) // s + 1, (w - 1) // s + 1, c), x.dtype)
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            r0, r1 = max(i * s - p, 0), min(i * s - p + k, h)
            c0, c1 = max(j * s - p, 0), min(j * s - p + k, w)
            window = x[:, r0:r1, c0:c1, :]
            out[:, i, j] = window.max((1, 2)) if mode == "max" else window.mean((1, 2))
    return out


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size", [6, 7])
def test_symmetric_pooling_matches_pytorch_semantics(mode, size):
    x = np.random.randn(2, size, size, 3).astype("float32")
    got = np.asarray(SymmetricPooling2D(mode, 3, 2)(x))
    np.testing.assert_allclose(got, _np_pool(x, mode), atol=1e-6)


def test_strided_dilated_depthwise_equals_dilated_then_subsampled():
    x = np.random.randn(2, 12, 12, 4).astype("float32")
    inp = keras.Input((12, 12, 4))
    strided = keras.Model(inp, cell_ops.depthwise_conv2d(inp, 5, stride=2, dilation=2, name="a"))
    dense = keras.Model(inp, cell_ops.depthwise_conv2d(inp, 5, stride=1, dilation=2, name="b"))
    dense.get_layer("b").set_weights(strided.get_layer("a").get_weights())
    expected = np.asarray(dense(x))[:, ::2, ::2, :]
    np.testing.assert_allclose(np.asarray(strided(x)), expected, atol=1e-5)


def test_strided_conv_pads_symmetrically_like_pytorch():
    # A 3x3 all-ones kernel at stride 2 on an even input: output (0, 0) sums the
    # top-left 2x2 block (padding above/left), as PyTorch's padding=1 does.
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    inp = keras.Input((4, 4, 1))
    model = keras.Model(inp, cell_ops.conv2d(inp, 1, 3, stride=2, name="c"))
    model.get_layer("c").set_weights([np.ones((3, 3, 1, 1), "float32")])
    out = np.asarray(model(x))[0, :, :, 0]
    assert out[0, 0] == x[0, :2, :2, 0].sum()
    assert out[1, 1] == x[0, 1:4, 1:4, 0].sum()


def test_factorized_reduce_rejects_odd_sizes_and_channels():
    with pytest.raises(ValueError, match="even input resolution"):
        cell_ops.factorized_reduce(keras.Input((7, 7, 4)), channels=4, name="fr")
    with pytest.raises(ValueError, match="channels=5"):
        cell_ops.factorized_reduce(keras.Input((8, 8, 4)), channels=5, name="fr")


def test_bad_arguments_name_the_value():
    x = keras.Input((8, 8, 4))
    with pytest.raises(ValueError, match="stride=3"):
        DARTS_OPS.get("sep_conv_3x3")(x, channels=4, stride=3, name="s")
    with pytest.raises(ValueError, match="channels=-1"):
        DARTS_OPS.get("sep_conv_3x3")(x, channels=-1, stride=1, name="s")
    with pytest.raises(ValueError, match="channels=8"):
        DARTS_OPS.get("max_pool_3x3")(x, channels=8, stride=1, name="p")
    with pytest.raises(KeyError, match="conv_7x7"):
        DARTS_OPS.get("conv_7x7")
    with pytest.raises(ValueError, match="mode"):
        SymmetricPooling2D("min")


@pytest.mark.parametrize("op", nb201_space.OPS)
def test_nb201_op_shapes(op):
    x = keras.Input((8, 8, 4))
    y = NB201_OPS.get(op)(x, channels=4, stride=1, name="e")
    assert tuple(y.shape) == (None, 8, 8, 4)
    expected = {"nor_conv_1x1": 16 + 8, "nor_conv_3x3": 144 + 8}.get(op, 0)
    assert _params(keras.Model(x, y)) == expected


def test_resnet_basic_block():
    x = keras.Input((8, 8, 4))
    y = cell_ops.resnet_basic_block(x, channels=8, stride=2, name="res")
    model = keras.Model(x, y)
    assert tuple(y.shape) == (None, 4, 4, 8)
    assert _params(model) == (9 * 4 * 8 + 16) + (9 * 8 * 8 + 16) + 4 * 8


def test_custom_layers_round_trip_and_count():
    x = keras.Input((8, 8, 4))
    a = SymmetricPooling2D("max", 3, 2, name="mp")(x)
    b = SymmetricPooling2D("avg", 3, 2, name="ap")(x)
    z = Zero(2, name="z")(x)
    model = keras.Model(x, keras.layers.Add()([a, b, z]))
    assert_config_and_save_roundtrip(model, np.random.rand(2, 8, 8, 4).astype("float32"))
    assert model.get_layer("mp").count_madds([(None, 8, 8, 4)], [(None, 4, 4, 4)]) == 0
    assert model.get_layer("z").count_madds((None, 8, 8, 4), (None, 4, 4, 4)) == 0
    assert np.all(np.asarray(Zero(1, channels=6)(np.ones((1, 2, 2, 3), "float32"))) == 0)
