"""Tests for tfnas.data.cifar10: the local tfds builder over the shared JPEG archive."""

from __future__ import annotations

import pathlib
import tarfile
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfnas import data
from tfnas.data import cifar10


@pytest.fixture(scope="session")
def cifar10_tfds_dir(tmp_path_factory, data_dir) -> pathlib.Path:
    """A tfds data_dir with CIFAR-10 prepared once per test session."""
    root = tmp_path_factory.mktemp("tfds")
    data.cifar10_builder(data_dir, tfds_data_dir=root)
    return root


# ---- errors (fast) -------------------------------------------------------------------


def test_missing_data_location_says_what_to_set(monkeypatch, tmp_path):
    monkeypatch.delenv("TFNAS_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="TFNAS_DATA_DIR=/path/to/shared/data") as info:
        data.load_splits("cifar10", tfds_data_dir=tmp_path)
    assert "--data_dir" in str(info.value)


def test_missing_folder_or_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="TFNAS_DATA_DIR"):
        data.load_cifar10_splits(tmp_path / "nowhere", tfds_data_dir=tmp_path / "tfds")
    with pytest.raises(FileNotFoundError, match="cifar10_jpg.tar.gz"):
        data.load_cifar10_splits(tmp_path, tfds_data_dir=tmp_path / "tfds")


def test_environment_variable_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("TFNAS_DATA_DIR", str(tmp_path / "from_env"))
    with pytest.raises(FileNotFoundError, match="from_env"):
        data.load_cifar10_splits(tfds_data_dir=tmp_path / "tfds")


def test_unknown_source():
    with pytest.raises(ValueError, match="source"):
        data.load_cifar10_splits(source="ftp")


def _fake_data_dir(tmp_path: pathlib.Path, payload: bytes) -> pathlib.Path:
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / cifar10.ARCHIVE_NAME).write_bytes(payload)
    return tmp_path


def test_corrupt_archive_is_reported(tmp_path):
    root = _fake_data_dir(tmp_path, b"this is not a gzip file" * 100)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        data.load_cifar10_splits(root, tfds_data_dir=tmp_path / "tfds")


def test_truncated_archive_is_reported(tmp_path, data_dir):
    head = (data_dir / "cifar10" / cifar10.ARCHIVE_NAME).read_bytes()[:200_000]
    root = _fake_data_dir(tmp_path, head)
    with pytest.raises(ValueError, match="corrupt or truncated"):
        data.load_cifar10_splits(root, tfds_data_dir=tmp_path / "tfds")
    assert not data.Cifar10Local(data_dir=str(tmp_path / "tfds")).is_prepared()


def test_features_equal_the_stock_builder(tmp_path):
    stock = tfds.builder("cifar10", data_dir=str(tmp_path)).info  # offline: no download
    local = data.Cifar10Local(data_dir=str(tmp_path)).info
    assert set(local.features.keys()) == set(stock.features.keys()) == {"id", "image", "label"}
    for key in ("id", "image", "label"):
        assert type(local.features[key]) is type(stock.features[key])
        assert local.features[key].shape == stock.features[key].shape
        assert local.features[key].dtype == stock.features[key].dtype
    assert local.features.get_serialized_info() == stock.features.get_serialized_info()
    assert local.features["label"].num_classes == stock.features["label"].num_classes == 10
    assert local.features["label"].names == list(data.CIFAR10_CLASS_NAMES)
    assert local.supervised_keys == stock.supervised_keys


# ---- the real data (prepared once per session) -----------------------------------------


@pytest.mark.slow
def test_split_sizes_and_element_structure(cifar10_tfds_dir, data_dir):
    train, test = data.load_splits("cifar10", data_dir=data_dir, tfds_data_dir=cifar10_tfds_dir)
    assert int(train.cardinality()) == 50_000 and int(test.cardinality()) == 10_000
    image_spec, label_spec = train.element_spec
    assert image_spec.shape == (32, 32, 3) and image_spec.dtype == tf.uint8
    assert label_spec.dtype == tf.int64
    builder = data.Cifar10Local(data_dir=str(cifar10_tfds_dir))
    assert builder.info.splits["train"].num_examples == 50_000
    assert builder.info.splits["test"].num_examples == 10_000


def _ids_and_labels(builder, split):
    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    ds = ds.map(lambda ex: (ex["id"], ex["label"])).batch(10_000)
    ids, labels = zip(*ds.as_numpy_iterator())
    return np.concatenate(ids), np.concatenate(labels)


@pytest.mark.slow
@pytest.mark.parametrize("split, per_class", [("train", 5000), ("test", 1000)])
def test_every_label_matches_its_class_folder(cifar10_tfds_dir, split, per_class):
    builder = data.Cifar10Local(data_dir=str(cifar10_tfds_dir))
    ids, labels = _ids_and_labels(builder, split)
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [per_class] * 10)
    assert len(set(ids.tolist())) == len(ids) == 10 * per_class
    folders = [i.decode().split("_")[1] for i in ids]  # id = <split>_<class>_<NNNN>
    expected = np.array([data.CIFAR10_CLASS_NAMES.index(f) for f in folders])
    np.testing.assert_array_equal(labels, expected)


@pytest.mark.slow
@pytest.mark.parametrize("split", ["train", "test"])
def test_known_images_are_the_archive_files(cifar10_tfds_dir, data_dir, split):
    members = {"train": ["airplane/0000", "cat/4999", "ship/2718"], "test": ["truck/0007", "frog/0999"]}[split]
    with tarfile.open(data_dir / "cifar10" / cifar10.ARCHIVE_NAME) as archive:
        jpegs = {
            f"{split}_{m.replace('/', '_')}": archive.extractfile(f"cifar10_jpg/{split}/{m}.jpg").read()
            for m in members
        }
    builder = data.Cifar10Local(data_dir=str(cifar10_tfds_dir))
    wanted = tf.constant(sorted(jpegs))
    ds = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()})
    ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(ex["id"], wanted)))
    found = {ex["id"].decode(): ex for ex in ds.as_numpy_iterator()}
    assert sorted(found) == sorted(jpegs)
    for key, jpeg in jpegs.items():
        class_name = key.split("_")[1]
        assert found[key]["label"] == data.CIFAR10_CLASS_NAMES.index(class_name)
        assert found[key]["image"] == jpeg  # stored as they are, not re-encoded
        decoded = builder.info.features["image"].decode_example(tf.constant(found[key]["image"]))
        np.testing.assert_array_equal(decoded.numpy(), tf.io.decode_jpeg(jpeg, channels=3).numpy())


@pytest.mark.slow
def test_second_load_reuses_the_prepared_data(cifar10_tfds_dir, tmp_path):
    start = time.perf_counter()
    # A prepared cache needs no source: the data folder is not even consulted.
    train, _ = data.load_cifar10_splits(tmp_path / "absent", tfds_data_dir=cifar10_tfds_dir)
    assert time.perf_counter() - start < 10.0
    x, y = next(iter(train))
    assert x.shape == (32, 32, 3) and 0 <= int(y) < 10


@pytest.mark.slow
def test_augmented_training_batches(cifar10_tfds_dir, data_dir):
    train, _ = data.load_splits("cifar10", data_dir=data_dir, tfds_data_dir=cifar10_tfds_dir)
    x, y = next(iter(data.make_train_dataset(train, 128, seed=0, shuffle_buffer=2048)))
    assert x.shape == (128, 32, 32, 3) and x.dtype == tf.float32 and y.shape == (128,)
    assert abs(float(tf.reduce_mean(x))) < 0.5  # normalized
