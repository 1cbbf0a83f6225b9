"""`captioning.pipeline`: features computed once and cached, training pairs without copies."""

from __future__ import annotations

import numpy as np
import pytest

from tfnas.captioning import pipeline
from tests.launch.test_caption import _caption_set


def test_prepare_caches_features_and_pairs_index_them(tmp_path, monkeypatch):
    captions = str(_caption_set(tmp_path))
    data = pipeline.prepare(captions, str(tmp_path / "run"), encoder="nb201_resnet.c8_l2_s16_cifar10", grid=2,
                            min_count=1, max_length=5, log=lambda s: None)
    assert pipeline.prepare(captions, str(tmp_path / "run"), encoder="nb201_resnet.c8_l2_s16_cifar10", grid=2,
                            min_count=1, log=lambda s: None).max_length == 3  # the captions' 95th percentile
    assert data.regions["train"].shape == (24, 4, 32) and data.regions["test"].shape == (6, 4, 32)
    regions, ids = data.training_pairs()
    assert len(regions) == len(ids) == 48 and regions.shape == (48, 4, 32)
    np.testing.assert_array_equal(regions[np.array([0, 1, 2, 3])],
                                  data.regions["train"][[0, 0, 1, 1]])  # two captions an image
    assert ids.shape == (48, 7) and (ids[:, 0] == 1).all()

    def no_encoder(*args, **kwargs):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(pipeline, "zoo_encoder", no_encoder)
    again = pipeline.prepare(captions, str(tmp_path / "run"), encoder="nb201_resnet.c8_l2_s16_cifar10", grid=2,
                             min_count=1, max_length=5, log=lambda s: None)
    np.testing.assert_array_equal(again.regions["val"], data.regions["val"])
    with pytest.raises(AssertionError, match="recomputed"):  # another grid: recomputed
        pipeline.prepare(captions, str(tmp_path / "run"), encoder="nb201_resnet.c8_l2_s16_cifar10", grid=1,
                         min_count=1, max_length=5, log=lambda s: None)


def test_prepare_refuses_an_encoder_name_without_weights(tmp_path):
    with pytest.raises(ValueError, match="zoo weights name"):
        pipeline.prepare(str(_caption_set(tmp_path)), str(tmp_path / "run"), encoder="darts_v2", grid=2,
                         min_count=1, log=lambda s: None)


def test_units_for_params_is_the_largest_decoder_within_the_budget(tmp_path):
    data = pipeline.prepare(str(_caption_set(tmp_path)), str(tmp_path / "run"),
                            encoder="nb201_resnet.c8_l2_s16_cifar10", grid=2, min_count=1, log=lambda s: None)

    def params(model, units):
        return int(pipeline._make_decoder(model, data, units, 8, 8).count_params())

    searched = params("tanh|relu<0|sigmoid<1", 20)
    units, got = pipeline.units_for_params("lstm", data, searched, embed_dim=8, attention_dim=8)
    assert got == params("lstm", units) <= searched < params("lstm", units + 1)
    with pytest.raises(ValueError, match="over the budget"):
        pipeline.units_for_params("lstm", data, 10, embed_dim=8, attention_dim=8)
