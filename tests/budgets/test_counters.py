"""Tests of the MAdds / parameter counters and the TF-profiler cross-check."""

from __future__ import annotations

import keras
import pytest

from tfnas.budgets.counters import LayerCost, ParamCount, count_madds, count_params, layer_costs


def _single(layer: keras.layers.Layer, shape: tuple) -> keras.Model:
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


# ----------------------------------------------------------------------------- hand counts


def test_conv2d_with_groups():
    model = _single(keras.layers.Conv2D(16, 3, padding="same", groups=4), (8, 8, 8))
    assert count_madds(model) == 8 * 8 * 16 * (3 * 3 * 8 // 4)
    assert count_params(model) == ParamCount(trainable=16 * 9 * 2 + 16, non_trainable=0, total=304)


def test_conv2d_dilation_does_not_change_cost_per_output():
    # valid 3x3 with dilation 2 on 10x10: effective kernel 5 -> 6x6 output.
    model = _single(keras.layers.Conv2D(4, 3, dilation_rate=2, use_bias=False), (10, 10, 3))
    assert count_madds(model) == 6 * 6 * 4 * 3 * 3 * 3


def test_conv2d_stride():
    model = _single(keras.layers.Conv2D(8, 3, strides=2, padding="same"), (16, 16, 4))
    assert count_madds(model) == 8 * 8 * 8 * 3 * 3 * 4


def test_conv2d_channels_first():
    model = _single(keras.layers.Conv2D(8, 1, data_format="channels_first"), (4, 5, 5))
    assert count_madds(model) == 5 * 5 * 8 * 4


def test_depthwise_conv2d_with_multiplier():
    model = _single(keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (8, 8, 5))
    assert count_madds(model) == 8 * 8 * 5 * 2 * 3 * 3


def test_separable_conv2d_is_depthwise_plus_pointwise():
    model = _single(keras.layers.SeparableConv2D(6, 3, padding="same"), (8, 8, 4))
    assert count_madds(model) == 8 * 8 * (4 * 9 + 4 * 6)


def test_dense_on_vectors_and_on_feature_maps():
    assert count_madds(_single(keras.layers.Dense(7), (5,))) == 35
    assert count_madds(_single(keras.layers.Dense(7), (3, 3, 5))) == 9 * 35


def test_parameter_free_layers_count_zero_and_bn_is_folded():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(1)(inputs)
    x = keras.layers.MaxPooling2D(3, strides=1)(x)
    y = keras.layers.BatchNormalization()(x)
    y = keras.layers.ReLU(6.0)(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inputs, keras.layers.Reshape((3, 1))(x))
    assert count_madds(model) == 0
    assert count_params(model) == ParamCount(trainable=6, non_trainable=6, total=12)


def test_nested_sequential_and_functional_models():
    inner_inputs = keras.Input((8, 8, 4))
    inner = keras.Model(
        inner_inputs, keras.layers.Conv2D(4, 1, use_bias=False, name="pw")(inner_inputs), name="inner"
    )
    seq = keras.Sequential([keras.layers.Conv2D(4, 3, padding="same", use_bias=False)], name="seq")
    inputs = keras.Input((8, 8, 3))
    x = seq(inputs)  # Built on call, no Input layer.
    x = inner(x)
    model = keras.Model(inputs, x)
    expected = 8 * 8 * 4 * 27 + 8 * 8 * 4 * 4
    assert count_madds(model) == expected
    names = [row.name for row in layer_costs(model)]
    assert "inner/pw" in names and any(n.startswith("seq/") for n in names)


def test_shared_layer_counts_every_call_and_its_params_once():
    shared = keras.layers.Dense(4, name="shared")
    a, b = keras.Input((6,)), keras.Input((6,))
    model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    assert count_madds(model) == 2 * 6 * 4
    rows = [r for r in layer_costs(model) if r.name == "shared"]
    assert [r.madds for r in rows] == [24, 24]
    assert sum(r.params for r in rows) == count_params(model).total == 28


def test_nested_model_called_twice_counts_twice():
    inner_inputs = keras.Input((5,))
    inner = keras.Model(inner_inputs, keras.layers.Dense(3)(inner_inputs), name="inner")
    inputs = keras.Input((5,))
    model = keras.Model(inputs, [inner(inputs), inner(inputs)])
    assert count_madds(model) == 2 * 15


class _Scale(keras.layers.Layer):
    """A weighted custom layer that declares its own cost."""

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.gamma

    def count_madds(self, input_shapes, output_shapes):
        return 1000 + len(input_shapes)


class _Opaque(keras.layers.Layer):
    """A weighted custom layer without a cost formula."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 2))

    def call(self, x):
        return keras.ops.matmul(x, self.w)


def test_custom_layer_count_madds_is_used():
    model = _single(_Scale(), (4, 4, 3))
    assert count_madds(model) == 1001


def test_custom_count_madds_overrides_builtin_formula():
    class CheapConv(keras.layers.Conv2D):
        def count_madds(self, input_shapes, output_shapes):
            return 7

    assert count_madds(_single(CheapConv(4, 3), (8, 8, 3))) == 7


def test_unknown_weighted_layer_raises():
    model = _single(_Opaque(name="opaque"), (3,))
    with pytest.raises(ValueError, match="opaque.*count_madds"):
        count_madds(model)


def test_subclassed_model_raises():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = keras.layers.Dense(2)

        def call(self, x):
            return self.fc(x)

    net = Net()
    net(keras.ops.zeros((1, 3)))
    with pytest.raises(ValueError, match="subclassed"):
        count_madds(net)
    assert count_params(net).total == 8


def test_aux_layers_are_excluded():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 1, use_bias=False, name="stem")(inputs)
    aux = keras.layers.GlobalAveragePooling2D(name="aux_pool")(x)
    aux = keras.layers.Dense(10, name="aux_fc")(aux)
    model = keras.Model(inputs, [x, aux])
    assert count_madds(model) == 8 * 8 * 4 * 3
    assert count_params(model).total == 12
    assert count_madds(model, exclude_prefixes=()) == 8 * 8 * 4 * 3 + 40
    assert count_params(model, exclude_prefixes=()).total == 12 + 50


def test_unknown_spatial_dims_need_input_shape():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match="input_shape"):
        count_madds(model)
    assert count_madds(model, input_shape=(16, 16, 3)) == 8 * 8 * 4 * 27 + 8
    assert count_madds(model, input_shape=(32, 32, 3)) == 16 * 16 * 4 * 27 + 8
    with pytest.raises(ValueError, match="input_shape"):
        count_madds(model, input_shape=(16, 16))
    with pytest.raises(ValueError, match="conflicts"):
        count_madds(model, input_shape=(16, 16, 4))


def test_layer_costs_rows():
    model = _single(keras.layers.Conv2D(4, 1, name="pw"), (2, 2, 3))
    assert layer_costs(model) == [
        LayerCost(name="pw", class_name="Conv2D", input_shape=(None, 2, 2, 3),
                  output_shape=(None, 2, 2, 4), params=16, madds=48)
    ]


def test_bad_arguments():
    with pytest.raises(ValueError, match="keras.Model"):
        count_madds(keras.layers.Dense(2))
    with pytest.raises(ValueError, match="exclude_prefixes"):
        count_params(_single(keras.layers.Dense(2), (3,)), exclude_prefixes="aux_")


# ----------------------------------------------------------------------------- published models


def test_mobilenet_v2_matches_published_300m():
    model = keras.applications.MobileNetV2(weights=None)
    madds, params = count_madds(model), count_params(model)
    print(f"MobileNetV2: {madds / 1e6:.2f}M MAdds (published 300M), {params.total / 1e6:.3f}M params")
    assert abs(madds / 300e6 - 1) < 0.02
    assert params.total == 3_538_984  # keras.applications' own count.


def test_efficientnet_b0_matches_published_390m():
    model = keras.applications.EfficientNetB0(weights=None)
    madds, params = count_madds(model), count_params(model)
    print(f"EfficientNet-B0: {madds / 1e6:.2f}M MAdds (published 390M), {params.total / 1e6:.3f}M params")
    assert abs(madds / 390e6 - 1) < 0.02
    assert params.total == model.count_params() == 5_330_571


# ----------------------------------------------------------------------------- profiler cross-check


def _small_conv_net() -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    y = keras.layers.Conv2D(8, 1, use_bias=False)(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(16, 3, dilation_rate=2, padding="same", groups=2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.mark.parametrize("build", [_small_conv_net, lambda: keras.applications.MobileNetV2(weights=None)],
                         ids=["small_conv_net", "mobilenet_v2"])
def test_profiler_cross_check(build):
    from tfnas.budgets.profiler import MADD_OPS, profile_flops_by_op

    model = build()
    by_op = profile_flops_by_op(model)
    madds = count_madds(model)
    total = sum(by_op.values())
    conv_matmul = sum(v for k, v in by_op.items() if k in MADD_OPS)
    print(f"{model.name}: count_madds={madds}, profiler/2={total / 2:.0f}, ratio={madds / (total / 2):.4f}")
    # The profiler counts multiply and add separately on the MAdd ops: exactly 2x.
    assert conv_matmul == 2 * madds
    # Its total adds unfolded BN, bias, residual adds and pooling: a few percent more.
    assert 0.90 <= madds / (total / 2) <= 1.0
