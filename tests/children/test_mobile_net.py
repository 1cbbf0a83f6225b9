"""Tests for mobile child networks: exact parameter counts of the published models, shapes, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tfnas.genotypes.published_blocks as published
from tfnas.children.mobile_net import build_mobile_network
from tfnas.genotypes.block import BlockGenotype
from tfnas.ops.drop_path import DropPath
from tests.helpers import assert_config_and_save_roundtrip

# Trainable parameters at 224x224x3, 1000 classes, with top.
# keras.applications.MobileNetV2(weights=None) / EfficientNetB0(weights=None) (Keras 3.15),
# timm 1.0.31 `mnasnet_a1` (= semnasnet_100) and `fbnetc_100`, and the released
# ProxylessNAS-mobile (pytorchcv's check value 4,080,512).
EXPECTED_TRAINABLE = {
    "MOBILENET_V2": 3_504_872,
    "MNASNET_A1": 3_887_038,
    "PROXYLESSNAS_MOBILE": 4_080_512,
    "FBNET_C": 5_572_200,
    "EFFICIENTNET_B0": 5_288_548,
}

TINY = BlockGenotype.from_string(
    "stem=8;blocks=ds_r1_k3_s1_c8_se0.25|ir_r2_k5_s2_e3_c16_se0.25_nhs,zero_r1|"
    "ir_r1_k3_s2_e1_c24,cn_r1_k3_s1_c24_skip;head=32;act=relu6;se_gate=hsigmoid;dropout=0.1"
)


def _trainable(model: keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


@pytest.mark.parametrize("name", sorted(EXPECTED_TRAINABLE))
def test_published_parameter_counts(name):
    model = build_mobile_network(getattr(published, name))
    assert _trainable(model) == EXPECTED_TRAINABLE[name]
    assert tuple(model.output.shape) == (None, 1000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, factory",
    [("MOBILENET_V2", keras.applications.MobileNetV2), ("EFFICIENTNET_B0", keras.applications.EfficientNetB0)],
)
def test_same_layers_as_keras_applications(name, factory):
    reference = factory(weights=None)
    ours = build_mobile_network(getattr(published, name))
    assert _trainable(reference) == EXPECTED_TRAINABLE[name] == _trainable(ours)
    # Same layers: the same multiset of weight shapes, trainable and not (BN statistics),
    # leaving out the input Normalization layer of keras.applications.EfficientNetB0.
    def shapes(model):
        return sorted(
            tuple(v.shape)
            for layer in model.layers
            if not isinstance(layer, keras.layers.Normalization)
            for v in layer.weights
        )

    assert shapes(reference) == shapes(ours)


def test_architecture_details():
    model = build_mobile_network(published.EFFICIENTNET_B0)
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("stage1_block1_se_reduce").filters == 8
    assert model.get_layer("stage2_block1_se_reduce").filters == 4
    assert model.get_layer("top_dropout").rate == 0.2
    assert model.get_layer("head_conv").filters == 1280
    bn = model.get_layer("stem_bn")
    assert (bn.epsilon, bn.momentum) == (1e-3, 0.99)
    assert model.get_layer("stem_act").get_config()["activation"] == "silu"
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    proxyless = build_mobile_network(published.PROXYLESSNAS_MOBILE)
    assert not any(layer.name.startswith(("stage2_block3", "stage2_block4")) for layer in proxyless.layers)
    assert "stage2_block2_add" in [layer.name for layer in proxyless.layers]
    fbnet = build_mobile_network(published.FBNET_C)
    assert "stage1_block1_expand_conv" in [layer.name for layer in fbnet.layers]
    assert "stage1_block1_add" in [layer.name for layer in fbnet.layers]


def test_tiny_forward_shapes_and_options():
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    model = build_mobile_network(TINY, input_shape=(32, 32, 3), num_classes=10)
    assert tuple(model(x).shape) == (2, 10)
    assert model.get_layer("top_dropout").rate == 0.1
    features = build_mobile_network(TINY, input_shape=(32, 32, 3), include_top=False)
    assert tuple(features(x).shape) == (2, 4, 4, 32)
    pooled = build_mobile_network(TINY, input_shape=(32, 32, 3), include_top=False, pooling="max")
    assert tuple(pooled(x).shape) == (2, 32)
    flexible = build_mobile_network(TINY, input_shape=(None, None, 3), include_top=False, pooling="avg")
    assert tuple(flexible(np.zeros((1, 48, 40, 3), "float32")).shape) == (1, 32)
    no_drop = build_mobile_network(TINY, input_shape=(32, 32, 3), dropout_rate=0.0)
    assert "top_dropout" not in [layer.name for layer in no_drop.layers]


def test_drop_connect_grows_linearly():
    model = build_mobile_network(TINY, input_shape=(32, 32, 3), num_classes=10, drop_connect_rate=0.4)
    drops = {layer.name: layer.initial_rate for layer in model.layers if isinstance(layer, DropPath)}
    # non-zero blocks: ds (0), ir (1), ir (2), ir e1 (3), cn (4); residuals on blocks 2 and 4
    assert drops == pytest.approx({"stage2_block2_drop": 0.4 * 2 / 5, "stage3_block2_drop": 0.4 * 4 / 5})


def test_config_and_save_roundtrip():
    model = build_mobile_network(TINY, input_shape=(32, 32, 3), num_classes=10, drop_connect_rate=0.2)
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    assert_config_and_save_roundtrip(model, x, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(num_classes=0), "num_classes=0"),
        (dict(pooling="sum"), "pooling='sum'"),
        (dict(dropout_rate=1.0), "dropout_rate=1.0"),
        (dict(drop_connect_rate=-0.1), "drop_connect_rate=-0.1"),
        (dict(input_shape=(32, 32)), "input_shape"),
    ],
)
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        build_mobile_network(TINY, **kwargs)
    assert fragment in str(info.value)
    with pytest.raises(ValueError, match="BlockGenotype"):
        build_mobile_network(TINY.to_string())  # type: ignore[arg-type]
