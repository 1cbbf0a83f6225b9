"""The user's own images: a folder with one sub-folder per class, as a dataset everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfnas import data
from tfnas.data import user
from tests.helpers import ROOT, run_launch


def _write(path, image: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(image))


def _folder(root, classes=("cat", "dog", "ship"), per_class=20, side=12, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            image = (rng.integers(0, 60, (side, side, 3)) + 80 * c).astype(np.uint8)
            path = os.path.join(str(root), name, f"{i:03d}.png")
            _write(path, image)
            images[path] = image
    return images


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFNAS_CACHE_DIR", str(tmp_path / "cache"))


def test_a_folder_is_read_from_its_images(tmp_path, monkeypatch):
    root = str(tmp_path / "imgs")
    images = _folder(root)
    spec = user.user_dataset_spec(root)
    assert (spec.num_classes, spec.class_names, spec.image_shape) == (3, ("cat", "dog", "ship"), (12, 12, 3))
    assert (spec.num_train, spec.num_test) == (54, 6)  # every 10th image of a class is a test image
    train_paths = [p for p in sorted(images) if int(os.path.basename(p)[:3]) % 10 != 9]
    pixels = np.concatenate([images[p].reshape(-1, 3) for p in train_paths]).astype(np.float64) / 255.0
    np.testing.assert_allclose(spec.mean, pixels.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(spec.std, pixels.std(axis=0), rtol=1e-9)
    train, test = spec.load()
    got = list(train.as_numpy_iterator())
    assert len(got) == 54 and got[0][0].dtype == np.uint8
    assert sorted(x.tobytes() for x, _ in got) == sorted(images[p].tobytes() for p in train_paths)
    labels = [int(y) for _, y in got]
    assert sorted(labels) == [0] * 18 + [1] * 18 + [2] * 18 and len(set(labels[:9])) > 1  # classes interleave
    assert sorted(int(y) for _, y in test.as_numpy_iterator()) == [0, 0, 1, 1, 2, 2]
    # The scan is cached: a second spec reads no image.
    monkeypatch.setattr(user, "_scan", lambda *a, **k: pytest.fail("scanned twice"))
    assert user.user_dataset_spec(root).mean == spec.mean
    # A changed folder is scanned again.
    _write(os.path.join(root, "cat", "999.png"), np.zeros((12, 12, 3), np.uint8))
    with pytest.raises(pytest.fail.Exception, match="scanned twice"):
        user.user_dataset_spec(root)


def test_train_and_test_sub_folders_are_the_splits(tmp_path):
    root = tmp_path / "split"
    _folder(root / "train", per_class=4)
    _folder(root / "test", per_class=2, seed=1)
    spec = user.user_dataset_spec(str(root))
    assert (spec.num_train, spec.num_test, spec.num_classes) == (12, 6, 3)


def test_the_catalog_and_the_networks_take_a_folder(tmp_path):
    from tfnas.children import build_child
    from tfnas.genotypes.nb201 import NB201Genotype

    root = str(tmp_path / "imgs")
    _folder(root, side=16)
    assert data.get_dataset_spec(root).num_classes == 3 and root in data.DATASETS
    model = build_child(NB201Genotype(("nor_conv_3x3",) * 6), dataset=root, channels=4, layers=1)
    assert tuple(model.input.shape[1:]) == (16, 16, 3) and model.output.shape[-1] == 3
    with pytest.raises(KeyError, match="Unknown dataset 'no_such_name'"):
        data.get_dataset_spec("no_such_name")


def test_a_search_streams_a_folder_from_disk(tmp_path):
    from tfnas.algorithms.runner import load_training_set

    root = str(tmp_path / "imgs")
    images = _folder(root)
    ds, n, shape, classes = load_training_set(root, None, 40, 8)
    assert (n, shape, classes, int(ds.cardinality())) == (40, (8, 8, 3), 3, 40)
    assert next(iter(ds))[0].shape == (8, 8, 3)
    first = sorted(images)[0]
    os.remove(first)  # read from disk at every pass, not held in memory
    with pytest.raises(tf.errors.NotFoundError):
        list(ds.as_numpy_iterator())
    assert load_training_set("digits", None, 40, 8)[1] == 40  # the built-in sets stay in memory


def test_a_streamed_dataset_shuffles_in_a_bounded_buffer(tmp_path, monkeypatch):
    from tfnas.data import pipeline

    root = str(tmp_path / "imgs")
    _folder(root)
    big = tf.data.Dataset.range(100_000)
    assert pipeline._shuffle_buffer(big, None, "digits") == 50_000  # in memory: the split, at most 50k
    monkeypatch.setattr(pipeline, "STREAM_SHUFFLE_BYTES", 12 * 12 * 3 * 300)
    assert pipeline._shuffle_buffer(big, None, root) == 300  # 300 decoded 12x12 images
    monkeypatch.setattr(pipeline, "STREAM_SHUFFLE_BYTES", 1)
    assert pipeline._shuffle_buffer(big, None, root) == 256
    assert pipeline._shuffle_buffer(big, 7, root) == 7


def test_bad_folders_are_refused_with_the_path_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope does not exist: pass a folder with one sub-folder"):
        user.user_dataset_spec(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no class sub-folders with images"):
        user.user_dataset_spec(str(tmp_path / "empty"))
    _folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(ValueError, match="holds one class \\(cat\\).*at least 2"):
        user.user_dataset_spec(str(tmp_path / "one"))
    _folder(tmp_path / "few", per_class=3)
    with pytest.raises(ValueError, match="leaves no test image: give each class at least 10 images"):
        user.user_dataset_spec(str(tmp_path / "few"))
    _folder(tmp_path / "mixed")
    _write(str(tmp_path / "mixed" / "dog" / "big.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(ValueError, match="differ in size: .* is 12x12, .*big.png is 20x20. Resize them"):
        user.user_dataset_spec(str(tmp_path / "mixed"))
    wide = tmp_path / "wide"
    for name in ("a", "b"):
        for i in range(10):
            _write(str(wide / name / f"{i}.png"), np.zeros((8, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="are 8x12; the networks take square images"):
        user.user_dataset_spec(str(wide))


def test_unreadable_files_are_skipped_and_counted_or_refused(tmp_path):
    root = tmp_path / "broken"
    _folder(root)
    (root / "dog" / "005.png").write_bytes(b"not an image")
    spec = user.user_dataset_spec(str(root))
    assert spec.num_train + spec.num_test == 59
    with pytest.raises(ValueError, match="005.png is not a readable image.*remove or replace it"):
        user.user_dataset_spec(str(root), unreadable="refuse")


@pytest.mark.slow
def test_search_train_and_export_a_folder_end_to_end(tmp_path):
    root = str(tmp_path / "imgs")
    _folder(root)
    common = ("--dataset=" + root, "--epochs=1", "--channels=4", "--layers=1", "--batch_size=8")
    proc = run_launch("search", "--space=nb201", "--algorithm=darts_minus", *common, f"--workdir={tmp_path}/s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["input_shape"] == [12, 12, 3] and report["train_examples"] == 54
    proc = run_launch("train", f"--model={report['genotype']}", *common, "--auxiliary_weight=0",
                      "--drop_path_rate=0", "--cutout=0", f"--workdir={tmp_path}/t")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["dataset"] == root
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-m", "export", f"--model={tmp_path}/t/model.keras", f"--dataset={root}",
                           "--formats=keras,tflite_int8", "--parity_images=6", "--calibration_images=20",
                           f"--out={tmp_path}/e"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode in (0, 3), proc.stderr[-3000:]  # 3: an int8 model may miss its parity bar
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["keras"]["parity"]["images"] == 6 and os.path.isfile(summary["tflite_int8"]["path"])


# ---------------------------------------------------------------------------- tfds builders
def _prepare_tiny_tfds(data_dir) -> None:
    import tensorflow_datasets as tfds

    class TfnasTestTinyImages(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self, supervised_keys=("image", "label"),
                features=tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 3)),
                                                     "label": tfds.features.ClassLabel(names=["a", "b", "c"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(30, 0), "test": self._generate_examples(9, 1)}

        def _generate_examples(self, n, seed):
            rng = np.random.default_rng(seed)
            for i in range(n):
                yield i, {"image": rng.integers(0, 256, (8, 8, 3)).astype(np.uint8), "label": i % 3}

    TfnasTestTinyImages(data_dir=str(data_dir)).download_and_prepare()


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    _prepare_tiny_tfds(data_dir)
    return data_dir


def test_a_prepared_tfds_builder_is_a_dataset(tiny_tfds, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tiny_tfds))
    spec = user.tfds_dataset_spec("tfds:tfnas_test_tiny_images")
    assert (spec.num_classes, spec.class_names, spec.image_shape, spec.num_train, spec.num_test) == (
        3, ("a", "b", "c"), (8, 8, 3), 30, 9)
    train, test = spec.load()
    x = np.stack([a for a, _ in train.as_numpy_iterator()])
    np.testing.assert_allclose(spec.mean, (x.reshape(-1, 3) / 255.0).mean(axis=0), rtol=1e-9)
    assert sorted(int(y) for _, y in test.as_numpy_iterator()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_tfds_names_that_cannot_load_say_how_to_prepare_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="tfds:mnist is not prepared in .*tfds build mnist --data_dir="):
        user.tfds_dataset_spec("tfds:mnist")
    with pytest.raises(ValueError, match="no tensorflow-datasets builder 'no_such_set_xyz'"):
        data.get_dataset_spec("tfds:no_such_set_xyz")
    with pytest.raises(ValueError, match="tfds:NAME or tfds:NAME:CONFIG"):
        user.tfds_dataset_spec("tfds:")


@pytest.mark.slow
def test_search_on_a_tfds_builder_end_to_end(tiny_tfds, tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tiny_tfds))  # the subprocess reads it without the builder's code
    proc = run_launch("search", "--space=nb201", "--algorithm=darts_minus", "--dataset=tfds:tfnas_test_tiny_images",
                      "--epochs=1", "--channels=4", "--layers=1", "--batch_size=8", f"--workdir={tmp_path}/s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["input_shape"] == [8, 8, 3] and report["train_examples"] == 30


def test_the_search_data_benchmark_reports_memory_streamed_and_in_memory(tmp_path):
    root = str(tmp_path / "bench")
    proc = run_launch("bench", "search_data", f"--dataset={root}", "--make_images=100", "--image_size=8",
                      "--batch_size=8", "--stream=no")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["images"] == 90 and result["image_shape"] == [8, 8, 3] and result["stream"] is False
    assert result["epoch_steps"] == 5 and result["peak_rss_mb_after_epoch"] >= result["peak_rss_mb_before_load"] > 0


def test_int8_calibration_reads_the_user_s_images(tmp_path, data_dir, monkeypatch):
    from export import parity as parity_lib
    from export.exporter import ExportConfig, export_model

    root = str(tmp_path / "calib")
    _folder(root, side=12)
    calls = []
    real = parity_lib.real_images
    monkeypatch.setattr(parity_lib, "real_images", lambda dataset, split, *a, **k: (
        calls.append((dataset, split)) or real(dataset, split, *a, **k)))
    config = ExportConfig(model="|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
                          channels=4, layers=1, input_size=16, out=str(tmp_path / "e"), formats="tflite_int8",
                          parity_images=4, calibration_images=20, calibration_dataset=root, latency_runs=1,
                          data_dir=str(data_dir), strict=False)
    summary = export_model(config)
    assert (root, "train") in calls and ("cifar10", "test") in calls  # calibration: the folder; parity: CIFAR-10
    assert os.path.isfile(summary["tflite_int8"]["path"])
