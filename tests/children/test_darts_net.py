"""DARTS child networks: exact reference parameter counts, shapes, aux head, drop-path."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import assert_config_and_save_roundtrip
from tfnas.children.darts_net import build_darts_network
from tfnas.genotypes.published_cells import DARTS_MINUS, DARTS_V1, DARTS_V2, GDAS, PC_DARTS
from tfnas.ops.drop_path import DropPath


def _params(model: keras.Model) -> int:
    """Trainable parameters, auxiliary head excluded (the reference's `param size`)."""
    return sum(
        int(np.prod(w.shape)) for w in model.trainable_weights if not w.path.startswith("aux_")
    )


def test_darts_v2_cifar_matches_reference_count():
    # quark0/darts train.py logs "param size = 3.349342MB" (auxiliary excluded); the same
    # figure comes out of a PyTorch re-implementation of NetworkCIFAR(36, 10, 20, True).
    model = build_darts_network(DARTS_V2, auxiliary=True)
    assert _params(model) == 3_349_342


def test_darts_minus_cifar_has_the_papers_size():
    # DARTS- reports 3.5M parameters for its CIFAR-10 cell at 36 channels, 20 cells.
    model = build_darts_network(DARTS_MINUS, auxiliary=True)
    assert _params(model) == 3_454_318


def test_darts_v2_imagenet_matches_reference_count():
    # NetworkImageNet(48, 1000, 14, ...) in PyTorch: 4,718,752 (the paper's "4.7M").
    model = build_darts_network(DARTS_V2, dataset="imagenet")
    assert model.input.shape == (None, 224, 224, 3)
    assert model.output.shape == (None, 1000)
    assert _params(model) == 4_718_752


@pytest.mark.parametrize(
    "genotype, expected",
    # Cross-checked against a PyTorch NetworkCIFAR re-implementation (C=8, 5 cells).
    [(DARTS_V1, 35_058), (DARTS_V2, 37_018), (PC_DARTS, 66_770), (GDAS, 70_290)],
)
def test_tiny_counts_match_reference(genotype, expected):
    model = build_darts_network(genotype, channels=8, layers=5, input_shape=(16, 16, 3))
    assert _params(model) == expected


def test_forward_shapes_and_reductions():
    model = build_darts_network(DARTS_V2, channels=8, layers=5, input_shape=(16, 16, 3))
    out = model(np.random.rand(2, 16, 16, 3).astype("float32"), training=False)
    assert out.shape == (2, 10)
    # reductions at cells 1 and 3: 16 -> 8 -> 4; channels 4 * 4C at the end
    assert tuple(model.get_layer("cell04_concat").output.shape) == (None, 4, 4, 4 * 32)
    assert model.get_layer("cell01_pre0_conv").output.shape[1] == 16


def test_reduction_prev_uses_factorized_reduce():
    model = build_darts_network(DARTS_V2, channels=8, layers=5, input_shape=(16, 16, 3))
    names = {layer.name for layer in model.layers}
    assert "cell02_pre0_conv1" in names  # FactorizedReduce after reduction cell 1
    assert "cell01_pre0_conv" in names  # ReLUConvBN otherwise


def test_auxiliary_outputs_and_names():
    model = build_darts_network(
        DARTS_V2, channels=8, layers=5, num_classes=7, auxiliary=True, input_shape=(32, 32, 3)
    )
    logits, aux = model(np.random.rand(2, 32, 32, 3).astype("float32"), training=False)
    assert logits.shape == (2, 7) and aux.shape == (2, 7)
    plain = build_darts_network(DARTS_V2, channels=8, layers=5, num_classes=7, input_shape=(32, 32, 3))
    aux_layers = {layer.name for layer in model.layers} - {layer.name for layer in plain.layers}
    assert aux_layers and all(name.startswith("aux_") for name in aux_layers)
    assert _params(model) == _params(plain)


def test_auxiliary_head_needs_8x8():
    with pytest.raises(ValueError, match="auxiliary head"):
        build_darts_network(DARTS_V2, channels=8, layers=5, auxiliary=True, input_shape=(16, 16, 3))


def test_drop_path_on_every_non_identity_op_and_only_in_training():
    model = build_darts_network(
        DARTS_V2, channels=8, layers=5, drop_path_rate=0.5, input_shape=(16, 16, 3)
    )
    drops = [layer for layer in model.layers if isinstance(layer, DropPath)]
    assert all("drop_path" in layer.name for layer in drops)
    # DARTS_V2 normal cell: 8 ops, 2 identities (skip_connect at stride 1) -> 6 drop-paths;
    # reduce cell: 8 ops; skip_connect from node 2 is an identity (3 of them) -> 5.
    assert len(drops) == 3 * 6 + 2 * 5
    assert {float(np.asarray(layer.rate)) for layer in drops} == {0.5}
    x = np.random.rand(4, 16, 16, 3).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))
    for layer in drops:
        layer.rate.assign(0.0)
    np.testing.assert_allclose(model(x, training=True), model(x, training=True), atol=1e-5)


def test_config_and_save_round_trip():
    model = build_darts_network(
        DARTS_V2, channels=8, layers=5, drop_path_rate=0.2, input_shape=(16, 16, 3)
    )
    assert_config_and_save_roundtrip(model, np.random.rand(2, 16, 16, 3).astype("float32"), atol=1e-5)


def test_accepts_published_name_and_string():
    a = build_darts_network("darts_v2", channels=8, layers=5, input_shape=(16, 16, 3))
    b = build_darts_network(DARTS_V2.to_string(), channels=8, layers=5, input_shape=(16, 16, 3))
    assert _params(a) == _params(b) == 37_018


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "mnist"}, "dataset='mnist'"),
        ({"channels": 0}, "channels=0"),
        ({"channels": 7}, "channels=7"),
        ({"layers": -1}, "layers=-1"),
        ({"drop_path_rate": 1.0}, "drop_path_rate=1.0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_darts_network(DARTS_V2, **kwargs)


def test_rejects_other_genotypes():
    with pytest.raises(ValueError, match="DartsGenotype"):
        build_darts_network(object())
