"""Tests for the MBConv-family functional builders."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfnas.ops import mbconv
from tfnas.ops.drop_path import DropPath

PRIMITIVES = (
    keras.layers.InputLayer,
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.BatchNormalization,
    keras.layers.Activation,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.Multiply,
    keras.layers.Add,
    DropPath,
)


def _model(builder, input_shape=(8, 8, 16), **kwargs):
    x = keras.Input(input_shape)
    return keras.Model(x, builder(x, **kwargs))


def _names(model):
    return [layer.name for layer in model.layers[1:]]


def test_inverted_residual_layers_and_params():
    m = _model(mbconv.inverted_residual, out_channels=16, kernel_size=5, expansion=6, se_ratio=0.25, name="b")
    assert _names(m) == [
        "b_expand_conv", "b_expand_bn", "b_expand_act",
        "b_dw_conv", "b_dw_bn", "b_dw_act",
        "b_se_pool", "b_se_reduce", "b_se_act", "b_se_expand", "b_se_gate", "b_se_scale",
        "b_project_conv", "b_project_bn", "b_add",
    ]
    assert all(isinstance(layer, PRIMITIVES) for layer in m.layers)
    mid, se = 96, 4  # SE width from the input width (16 * 0.25)
    expected = (16 * mid + 4 * mid) + (25 * mid + 4 * mid) + (mid * se + se + se * mid + mid) + (mid * 16 + 4 * 16)
    assert m.count_params() == expected
    assert m.get_layer("b_se_pool").keepdims
    assert m.get_layer("b_dw_act").get_config()["activation"] == "relu6"


def test_se_base_mid_and_gates():
    m = _model(
        mbconv.inverted_residual, out_channels=16, expansion=4, se_ratio=0.25, se_base="mid",
        activation="hswish", se_activation="relu", se_gate="hsigmoid", name="b",
    )
    assert m.get_layer("b_se_reduce").filters == 16  # 64 * 0.25
    assert m.get_layer("b_se_act").get_config()["activation"] == "relu"
    assert m.get_layer("b_se_gate").get_config()["activation"] == "hard_sigmoid"
    assert m.get_layer("b_expand_act").get_config()["activation"] == "hard_silu"
    assert mbconv.se_width(24, 72, 0.25, "in") == 6
    assert mbconv.se_width(24, 72, 0.25, "mid") == 18
    assert mbconv.se_width(2, 2, 0.25) == 1


def test_expansion_one_keeps_expand_conv_in_ir_but_not_in_ds():
    ir = _model(mbconv.inverted_residual, out_channels=16, expansion=1, name="b")
    assert "b_expand_conv" in _names(ir)
    ds = _model(mbconv.depthwise_separable, out_channels=8, name="d")
    assert _names(ds) == ["d_dw_conv", "d_dw_bn", "d_dw_act", "d_project_conv", "d_project_bn"]


@pytest.mark.parametrize(
    "kwargs, has_add",
    [
        (dict(out_channels=16), True),
        (dict(out_channels=16, strides=2), False),
        (dict(out_channels=24), False),
        (dict(out_channels=16, skip=False), False),
    ],
)
def test_residual_rule(kwargs, has_add):
    m = _model(mbconv.inverted_residual, name="b", **kwargs)
    assert ("b_add" in _names(m)) is has_add


def test_stride_two_shape_and_drop_connect():
    m = _model(mbconv.inverted_residual, input_shape=(9, 9, 16), out_channels=24, strides=2, name="b")
    assert tuple(m.output.shape) == (None, 5, 5, 24)
    m = _model(mbconv.inverted_residual, out_channels=16, drop_connect_rate=0.2, name="b")
    drop = m.get_layer("b_drop")
    assert isinstance(drop, DropPath) and drop.initial_rate == 0.2
    x = np.random.rand(2, 8, 8, 16).astype("float32")
    np.testing.assert_allclose(m(x, training=False), m(x, training=False))


def test_conv_block_and_skip():
    m = _model(mbconv.conv_block, input_shape=(8, 8, 8), out_channels=8, skip=True, name="c")
    assert _names(m) == ["c_conv", "c_bn", "c_act", "c_add"]
    with pytest.raises(ValueError, match="skip=True"):
        _model(mbconv.conv_block, input_shape=(8, 8, 8), out_channels=16, skip=True, name="c")


def test_conv_bn_act_linear():
    m = _model(mbconv.conv_bn_act, filters=4, kernel_size=1, activation=None, name="p")
    assert _names(m) == ["p_conv", "p_bn"]
    assert not m.get_layer("p_conv").use_bias


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(out_channels=0), "out_channels=0"),
        (dict(out_channels=8, strides=3), "strides=3"),
        (dict(out_channels=8, kernel_size=0), "kernel_size=0"),
        (dict(out_channels=8, expansion=0), "expansion=0"),
        (dict(out_channels=8, activation="gelu"), "activation='gelu'"),
        (dict(out_channels=8, se_ratio=0.25, se_gate="tanh"), "gate='tanh'"),
        (dict(out_channels=8, se_ratio=0.25, se_base="out"), "se_base='out'"),
        (dict(out_channels=8, drop_connect_rate=1.0), "drop_connect_rate=1.0"),
        (dict(out_channels=8, se_ratio=2.0), "se_ratio=2.0"),
    ],
)
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        _model(mbconv.inverted_residual, name="b", **kwargs)
    assert fragment in str(info.value)
