"""The zoo: keras.applications contract, create_model/list_models, hash-verified weights."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tfnas import applications
from tfnas.applications import WeightsIntegrityError, zoo
from tfnas.children import build_child
from tfnas.genotypes import codec

TINY = {"channels": 4, "layers": 3, "input_shape": (16, 16, 3)}


def test_list_models_names_every_published_architecture():
    names = applications.list_models()
    for arch in ("darts_v1", "darts_v2", "pc_darts", "gdas", "darts_minus", "mobilenet_v2", "mnasnet_a1",
                 "proxylessnas_mobile", "fbnet_c", "efficientnet_b0"):
        assert arch in names
    assert set(applications.list_models(pretrained=True)) <= set(names)


def test_keras_applications_contract_on_a_cell_network():
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    probs = applications.DARTS_V2(**TINY)
    np.testing.assert_allclose(np.asarray(probs(x)).sum(-1), 1.0, atol=1e-5)
    logits = applications.DARTS_V2(**TINY, classifier_activation=None, classes=5)
    assert logits.output_shape == (None, 5)
    assert applications.DARTS_V2(**TINY, include_top=False).output_shape == (None, 4, 4, 64)
    assert applications.GDAS(**TINY, include_top=False, pooling="max").output_shape[1:] == (
        applications.GDAS(**TINY, include_top=False).output_shape[-1],)
    tensor = keras.Input((16, 16, 3))
    model = applications.PC_DARTS(**{k: v for k, v in TINY.items() if k != "input_shape"}, input_tensor=tensor)
    assert model.inputs[0] is tensor or model.input_shape == (None, 16, 16, 3)


def test_mobile_network_matches_the_child_builder():
    model = applications.create_model("mobilenet_v2", input_shape=(32, 32, 3), classes=10,
                                      classifier_activation=None)
    child = build_child(codec.load("mobilenet_v2"), input_size=32, num_classes=10)
    assert model.count_params() == child.count_params()
    features = applications.MnasNetA1(include_top=False, pooling="avg", input_shape=(32, 32, 3))
    assert features.output_shape == (None, 1280)  # the 1x1 head conv


def test_bad_names_and_options_are_refused():
    with pytest.raises(ValueError, match="Unknown zoo model 'resnet50'.*darts_v2"):
        applications.create_model("resnet50")
    with pytest.raises(ValueError, match="Unknown zoo model 'darts_v2.imagenet_nope'"):
        applications.create_model("darts_v2.imagenet_nope")
    with pytest.raises(ValueError, match="pooling must be"):
        applications.DARTS_V2(**TINY, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="channels/layers do not apply"):
        applications.build_zoo_model("mobilenet_v2", channels=8)
    with pytest.raises(ValueError, match="weights must be None, a tag of darts_v2"):
        applications.DARTS_V2(**TINY, weights="imagenet")
    with pytest.raises(TypeError, match="must be a string"):
        applications.create_model(3)


def _fake_run(tmp_path):
    """A finished launch.train-style run folder of a tiny DARTS_V2 net on digits."""
    import tfnas.ops  # noqa: F401

    genotype = codec.load("darts_v2")
    network = build_child(genotype, dataset="digits", channels=4, layers=3, drop_path_rate=0.2)
    for v in network.trainable_variables:  # trained-looking, non-default weights
        v.assign(np.random.default_rng(len(v.path)).normal(0, 0.1, v.shape).astype("float32"))
    workdir = tmp_path / "run"
    workdir.mkdir()
    network.save(workdir / "model.keras")
    (workdir / "config.json").write_text(json.dumps({"dataset": "digits", "channels": 4, "layers": 3,
                                                     "data_dir": None, "epochs": 1}))
    (workdir / "report.json").write_text(json.dumps({"genotype": genotype.to_string(), "test_accuracy": 0.1}))
    return workdir, network


def test_packaged_weights_load_verified_and_corruption_is_an_error(tmp_path):
    from export.zoo_weights import package_run

    workdir, network = _fake_run(tmp_path)
    dest = tmp_path / "weights"
    try:
        card = package_run(str(workdir), "darts_v2.test_c4_l3_digits", "python -m launch.train ...", dest=str(dest),
                           recalibrate_bn_batches=1)
        assert card["bn_recalibration"]["batches"] == 1
        assert card["sha256"] == applications.sha256_file(str(dest / "darts_v2.test_c4_l3_digits.npz"))
        assert 0.0 <= card["test_accuracy"] <= 1.0 and card["storage_dtype"] == "float16"
        assert json.loads((dest / "darts_v2.test_c4_l3_digits.json").read_text())["command"].startswith("python")
        model = applications.create_model("darts_v2.test_c4_l3_digits", classifier_activation=None)
        x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
        # Same trainable weights (float16-rounded); BN statistics recalibrated on the digits.
        trained = {v.path: np.asarray(v) for v in network.trainable_variables}
        for v in model.trainable_variables:
            np.testing.assert_allclose(np.asarray(v), trained[v.path], atol=1e-3, rtol=1e-3)
        moving = next(v for v in model.weights if v.path.endswith("stem_bn/moving_mean"))
        assert not np.allclose(np.asarray(moving), 0.0)  # recalibrated away from the init
        assert model(x).shape == (2, 10)
        features = applications.create_model("darts_v2.test_c4_l3_digits", include_top=False, pooling="avg")
        assert features.output_shape == (None, 64)
        with pytest.raises(ValueError, match="trained with"):
            applications.create_model("darts_v2.test_c4_l3_digits", channels=8)
        with pytest.raises(ValueError, match="10-class classifier"):
            applications.create_model("darts_v2.test_c4_l3_digits", classes=3)
        weights = dest / "darts_v2.test_c4_l3_digits.npz"
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
        with pytest.raises(WeightsIntegrityError, match="sha256 mismatch"):
            applications.create_model("darts_v2.test_c4_l3_digits")
    finally:
        zoo.WEIGHTS.pop("darts_v2.test_c4_l3_digits", None)


def test_npz_that_does_not_fit_is_refused(tmp_path):
    small = applications.DARTS_V2(**TINY)
    path = tmp_path / "w.npz"
    applications.save_weights_npz(small, str(path))
    with pytest.raises(ValueError, match="does not fit"):
        applications.DARTS_V2(channels=8, layers=3, input_shape=(16, 16, 3), weights=str(path))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        applications.DARTS_V2(**TINY, weights=str(tmp_path / "junk.npz"))


@pytest.mark.parametrize("name", applications.list_models(pretrained=True))
def test_shipped_weights_match_their_cards(name):
    card = applications.weights_card(name)
    assert applications.sha256_file(card["file"]) == card["sha256"]
    assert card["command"].startswith(("python -m launch.train", "python -m launch.rank"))
    assert 0.2 < card["test_accuracy"] <= 1.0  # well above chance (0.1): trained weights
    model = applications.create_model(name)
    assert model.output_shape == (None, card["classes"])


def test_at_least_two_models_ship_weights_trained_here():
    shipped = applications.list_models(pretrained=True)
    assert len(shipped) >= 2, shipped
    assert {applications.weights_card(n)["space"] for n in shipped} >= {"darts", "mobile"}


def test_a_dna_teacher_ships_to_the_zoo_with_its_measured_accuracy(tmp_path):
    from export.zoo_weights import package_dna_teacher
    from tfnas.ranking import ProxyConfig
    from tfnas.ranking.dna import DnaConfig, build_teacher
    from tfnas.spaces.nb201 import RESNET_CELL

    assert codec.load("nb201_resnet").to_string() == RESNET_CELL
    config = DnaConfig(teacher_layers=1, teacher_epochs=1, train_examples=64, val_examples=16)
    proxy = ProxyConfig(channels=4, layers=1, image_size=8, batch_size=8)
    teacher = build_teacher(config, proxy, 10)
    for v in teacher.trainable_variables:  # trained-looking, non-default weights
        v.assign(np.random.default_rng(len(v.path)).normal(0, 0.3, v.shape).astype("float32"))
    workdir = tmp_path / "dna"
    workdir.mkdir()
    teacher.save_weights(str(workdir / "teacher.weights.h5"))
    (workdir / "config.json").write_text(json.dumps({"dna": config.to_dict(), "proxy": proxy.to_dict()}))
    (workdir / "teacher.json").write_text(json.dumps({"heldout_accuracy": 12.5, "training_seconds": 3.0}))
    name = "nb201_resnet.test_c4_l1_s8"
    try:
        with pytest.raises(ValueError, match="nb201_resnet"):
            package_dna_teacher(str(workdir), "darts_v2.test", "python -m launch.rank", dest=str(tmp_path / "w"))
        card = package_dna_teacher(str(workdir), name, "python -m launch.rank --scorer=dna ...",
                                   dest=str(tmp_path / "w"))
        assert (card["channels"], card["layers"], card["input_size"], card["space"]) == (4, 1, 8, "nb201")
        assert "resized to 8x8" in card["accuracy_split"] and 0.0 <= card["test_accuracy"] <= 1.0
        assert card["training"]["heldout_accuracy"] == 12.5
        shipped = applications.create_model(name, classifier_activation=None)
        assert shipped.input_shape == (None, 8, 8, 3)  # the card's size by default
        x = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype("float32")
        np.testing.assert_allclose(np.asarray(shipped(x)), np.asarray(teacher(x)), atol=2e-2, rtol=2e-2)
        with pytest.raises(ValueError, match="already shipped"):
            package_dna_teacher(str(workdir), name, "python -m launch.rank", dest=str(tmp_path / "w"))
    finally:
        zoo.WEIGHTS.pop(name, None)
