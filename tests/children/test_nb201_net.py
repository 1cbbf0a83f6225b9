"""NAS-Bench-201 child networks: reference parameter counts, shapes, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers import assert_config_and_save_roundtrip
from tfnas.children.nb201_net import build_nb201_network
from tfnas.genotypes.nb201 import NB201Genotype, all_nb201_genotypes

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _params(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "genotype, expected",
    # Cross-checked against a PyTorch re-implementation of TinyNetwork(16, 5, genotype, 10);
    # 1,531,546 is also NAS-Bench-201's largest CIFAR-10 model (1.5315 MB).
    [
        (NB201Genotype(("nor_conv_3x3",) * 6), 1_531_546),
        (NB201Genotype.from_string(BEST), 1_288_506),
        ("index0", 129_306),
        ("index1", 802_426),
        ("index3", 73_306),
    ],
)
def test_counts_match_reference(genotype, expected):
    if isinstance(genotype, str):
        genotype = all_nb201_genotypes()[int(genotype[5:])]
    assert _params(build_nb201_network(genotype)) == expected


def test_forward_and_structure():
    model = build_nb201_network(BEST, channels=4, cells_per_stage=1, num_classes=5, input_shape=(8, 8, 3))
    out = model(np.random.rand(2, 8, 8, 3).astype("float32"), training=False)
    assert out.shape == (2, 5)
    assert tuple(model.get_layer("cell01_add").output.shape) == (None, 4, 4, 8)
    assert tuple(model.get_layer("cell04_node3_add").output.shape) == (None, 2, 2, 16)


def test_none_edges_are_zero_layers():
    g = NB201Genotype(("none", "nor_conv_1x1", "none", "none", "none", "skip_connect"))
    model = build_nb201_network(g, channels=4, cells_per_stage=1, input_shape=(8, 8, 3))
    assert "cell00_e01_zero" in {layer.name for layer in model.layers}
    model(np.random.rand(1, 8, 8, 3).astype("float32"))


def test_config_and_save_round_trip():
    g = NB201Genotype(("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "none", "nor_conv_3x3", "skip_connect"))
    model = build_nb201_network(g, channels=4, cells_per_stage=1, input_shape=(8, 8, 3))
    assert_config_and_save_roundtrip(model, np.random.rand(2, 8, 8, 3).astype("float32"), atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="channels=0"):
        build_nb201_network(BEST, channels=0)
    with pytest.raises(ValueError, match="cells_per_stage=-2"):
        build_nb201_network(BEST, cells_per_stage=-2)
    with pytest.raises(ValueError, match="Unknown NAS-Bench-201 op"):
        build_nb201_network(BEST.replace("skip_connect", "sep_conv_3x3"))
    with pytest.raises(ValueError, match="NB201Genotype"):
        build_nb201_network(42)
