"""The user's own images as a dataset: a folder with one sub-folder per class, or a tfds builder.

`--dataset=PATH` (any launch script that takes a dataset; in code `get_dataset_spec(PATH)`)
reads `PATH/<class name>/<image>` (PNG, JPEG, BMP or GIF; class ids in sorted folder-name
order). With `PATH/train/<class>/` and `PATH/test/<class>/` those are the splits; otherwise
every 10th image of each class (in sorted file order) is the test split. Everything else is
read from the data, not from a table: the image size (every image must have the same one),
the number of classes, and the per-channel mean and standard deviation of the training
images. The first use scans every image once (size check, statistics, unreadable files) and
caches the result in `cache_dir()/user_datasets/` under a key of the folder's path and every
file's name, size and modification time, so a changed folder is scanned again. The splits
then stream from disk through `tf.data` (decode per image), never as whole arrays: the
training files in a fixed random order (seed 0), so that the pipeline's bounded shuffle
buffer (`pipeline.STREAM_SHUFFLE_BYTES`) mixes the classes.

Images are decoded to 3 channels (a grayscale image is repeated). An unreadable file is
skipped and counted (`DatasetSpec` logs the count) with `unreadable="skip"`, the default, or
refused with `unreadable="refuse"` (`TFNAS_UNREADABLE=refuse` for the launch scripts).

`--dataset=tfds:NAME[:CONFIG]` is a tensorflow-datasets builder already prepared in
`$TFDS_DATA_DIR` (`tfds_dataset_spec`): nothing is downloaded; its shape, classes and splits
come from the builder's info, its statistics from its first training images (cached).

Example:
>>> spec = user_dataset_spec("/data/my_images")  # doctest: +SKIP
>>> spec.num_classes, spec.image_shape  # doctest: +SKIP
(3, (64, 64, 3))
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from tfnas.data.spec import DatasetSpec

#: File name endings read as images (lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
#: Every `TEST_EVERY`-th image of a class is a test image when the folder has no `test/`.
TEST_EVERY = 10
UNREADABLE_MODES = ("skip", "refuse")


def looks_like_folder(name: str) -> bool:
    """Whether a dataset name is meant as a folder (it names an existing folder or holds a '/')."""
    return os.path.isdir(name) or "/" in name or os.sep in name


def _class_files(root: str) -> dict[str, list[str]]:
    classes = sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    files = {}
    for name in classes:
        folder = os.path.join(root, name)
        images = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
        if images:
            files[name] = [os.path.join(folder, f) for f in images]
    return files


def _layout(root: str) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, int]]]:
    """`(class names, train (path, label) pairs, test pairs)` of a folder."""
    split_dirs = [os.path.join(root, s) for s in ("train", "test")]
    if all(os.path.isdir(d) for d in split_dirs):
        train_files, test_files = (_class_files(d) for d in split_dirs)
        names = sorted(set(train_files) | set(test_files))
        label = {n: i for i, n in enumerate(names)}
        train = _mixed([(p, label[n]) for n, paths in train_files.items() for p in paths])
        test = [(p, label[n]) for n, paths in test_files.items() for p in paths]
        return names, train, test
    files = _class_files(root)
    names = sorted(files)
    train, test = [], []
    for label, name in enumerate(names):
        for i, path in enumerate(files[name]):
            (test if i % TEST_EVERY == TEST_EVERY - 1 else train).append((path, label))
    return names, _mixed(train), test


def _mixed(pairs: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The training files in a fixed random order (seed 0): classes interleave in the stream,
    so a bounded shuffle buffer mixes them (sorted by class, a buffer would see one class)."""
    order = np.random.default_rng(0).permutation(len(pairs))
    return [pairs[i] for i in order]


def _decode(path: str) -> np.ndarray:
    data = tf.io.read_file(path)
    return tf.io.decode_image(data, channels=3, expand_animations=False).numpy()


def _cache_key(root: str, pairs: list[tuple[str, int]]) -> str:
    digest = hashlib.sha1(os.path.abspath(root).encode())
    for path, label in pairs:
        st = os.stat(path)
        digest.update(f"{path}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _scan(root: str, train: list[tuple[str, int]], test: list[tuple[str, int]], unreadable: str) -> dict[str, Any]:
    """Decodes every image once: the common size, the training statistics, the unreadable files."""
    shapes: dict[tuple[int, ...], str] = {}
    total = np.zeros(3, np.float64)
    total_sq = np.zeros(3, np.float64)
    pixels = 0
    kept: dict[str, list[list[Any]]] = {"train": [], "test": []}
    skipped = []
    for split, pairs in (("train", train), ("test", test)):
        for path, label in pairs:
            try:
                image = _decode(path)
            except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError) as err:
                if unreadable == "refuse":
                    raise ValueError(f"{path} is not a readable image ({err.message.splitlines()[0]}); "
                                     f"remove or replace it, or skip unreadable files (unreadable='skip').") from None
                skipped.append(path)
                continue
            shapes.setdefault(tuple(image.shape), path)
            if len(shapes) > 1:
                (a, pa), (b, pb) = list(shapes.items())[:2]
                raise ValueError(
                    f"The images in {root} differ in size: {pa} is {a[0]}x{a[1]}, {pb} is {b[0]}x{b[1]}. "
                    f"Resize them to one size first (e.g. with PIL or ImageMagick `mogrify -resize WxH!`).")
            if split == "train":
                values = image.reshape(-1, 3).astype(np.float64) / 255.0
                total += values.sum(axis=0)
                total_sq += (values * values).sum(axis=0)
                pixels += values.shape[0]
            kept[split].append([path, label])
    if not kept["train"]:
        raise ValueError(f"No readable training image in {root} ({len(skipped)} unreadable files).")
    mean = total / pixels
    std = np.sqrt(np.maximum(total_sq / pixels - mean * mean, 0.0))
    (shape,) = list(shapes)
    return {"image_shape": list(shape), "mean": mean.tolist(), "std": np.maximum(std, 1e-3).tolist(),
            "train": kept["train"], "test": kept["test"], "skipped": skipped}


def _cached(path, compute) -> dict[str, Any]:
    """The JSON in `path`, else `compute()` written there (atomically; a cut file is recomputed)."""
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)
    return value


def _loader(train: list[list[Any]], test: list[list[Any]], shape: tuple[int, int, int]):
    def read(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return tf.ensure_shape(image, shape), label

    def split(pairs):
        paths = tf.constant([p for p, _ in pairs], tf.string)
        labels = tf.constant([int(y) for _, y in pairs], tf.int64)
        return tf.data.Dataset.from_tensor_slices((paths, labels)).map(read, num_parallel_calls=tf.data.AUTOTUNE,
                                                                       deterministic=True)

    def load(data_dir: str | None = None, **kwargs: Any):
        del data_dir
        if kwargs:
            raise ValueError(f"A folder dataset takes no loader options. Received: {sorted(kwargs)}")
        return split(train), split(test)

    return load


def user_dataset_spec(root: str, *, unreadable: str | None = None) -> DatasetSpec:
    """The `DatasetSpec` of a folder of images (see the module docstring), named `root`.

    Args:
        root: The folder: `root/<class>/<image>` or `root/{train,test}/<class>/<image>`.
        unreadable: `"skip"` (count and leave out) or `"refuse"`; None reads
            `$TFNAS_UNREADABLE` (default skip).

    Raises:
        FileNotFoundError: if `root` is not a folder.
        ValueError: for no images, a single class, images of different sizes or not square, an
            empty test split, or (with `"refuse"`) an unreadable file; each message names the
            path and the fix.
    """
    unreadable = unreadable or os.environ.get("TFNAS_UNREADABLE", "skip")
    if unreadable not in UNREADABLE_MODES:
        raise ValueError(f"unreadable must be one of {UNREADABLE_MODES}. Received: {unreadable!r}")
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Dataset folder {root} does not exist: pass a folder with one sub-folder of "
                                f"images per class, or a built-in dataset name (cifar10, digits).")
    names, train, test = _layout(root)
    if not names:
        raise ValueError(f"{root} holds no class sub-folders with images ({', '.join(IMAGE_EXTENSIONS)}): "
                         f"put each class's images in {os.path.join(root, '<class name>')}/.")
    if len(names) < 2:
        raise ValueError(f"{root} holds one class ({names[0]}): a classifier needs at least 2 class sub-folders.")
    if not test:
        raise ValueError(f"{root} leaves no test image: give each class at least {TEST_EVERY} images, "
                         f"or add {os.path.join(root, 'test', '<class name>')}/ folders.")
    from tfnas.data.cifar10 import cache_dir

    cache = cache_dir() / "user_datasets" / f"{_cache_key(root, train + test)}-{unreadable}.json"
    scan = _cached(cache, lambda: _scan(root, train, test, unreadable))
    if scan["skipped"]:
        logging.warning("%s: skipped %d unreadable files (first: %s).", root, len(scan["skipped"]), scan["skipped"][0])
    shape = tuple(int(d) for d in scan["image_shape"])
    if shape[0] != shape[1]:
        raise ValueError(f"The images in {root} are {shape[0]}x{shape[1]}; the networks take square images: "
                         f"crop or pad them to one square size first.")
    return DatasetSpec(
        name=root, load=_loader(scan["train"], scan["test"], shape), image_shape=shape, num_classes=len(names),
        class_names=tuple(names), mean=tuple(scan["mean"]), std=tuple(scan["std"]),
        num_train=len(scan["train"]), num_test=len(scan["test"]), horizontal_flip=True, in_memory=False)


# ---------------------------------------------------------------------------- tfds builders
TFDS_PREFIX = "tfds:"
#: Training images read for a tfds dataset's statistics (the first N of its train split).
TFDS_STATS_IMAGES = 10000


def tfds_dataset_spec(name: str) -> DatasetSpec:
    """The `DatasetSpec` of `tfds:NAME[:CONFIG]`: a tensorflow-datasets builder already
    prepared in `$TFDS_DATA_DIR` (default `~/tensorflow_datasets`), nothing downloaded.

    Its supervised keys give the image and the label; the image shape (fixed and square;
    one channel is repeated to three), the classes and the splits (`train`, and `test` or
    else `validation`) come from the builder's info; the mean and standard deviation of the
    first `TFDS_STATS_IMAGES` training images are computed once and cached.

    Raises:
        ValueError: for a name not of that form, a builder that is unknown or not prepared
            there (the message says how to prepare it), or one without an image and a label.
    """
    import tensorflow_datasets as tfds

    parts = name[len(TFDS_PREFIX):].split(":") if name.startswith(TFDS_PREFIX) else []
    if len(parts) not in (1, 2) or not all(parts):
        raise ValueError(f"A tfds dataset is tfds:NAME or tfds:NAME:CONFIG. Received: {name!r}")
    builder_name = "/".join(parts)
    data_dir = os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")
    prepare = (f"prepare it where the internet is reachable (`tfds build {parts[0]}"
               f"{' --config=' + parts[1] if len(parts) == 2 else ''} --data_dir={data_dir}`) or copy a prepared "
               f"copy there, or point $TFDS_DATA_DIR at one")
    try:
        builder = tfds.builder(builder_name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(f"{name}: no tensorflow-datasets builder {builder_name!r} in {data_dir}; {prepare}.") from None
    if not os.path.isfile(os.path.join(builder.data_dir, "dataset_info.json")):
        raise ValueError(f"{name} is not prepared in {data_dir}; {prepare}.")
    info = builder.info
    keys = info.supervised_keys
    if not keys or len(keys) != 2:
        raise ValueError(f"{name} has no (image, label) supervised keys; it is not an image-classification set.")
    image_key, label_key = keys
    shape = tuple(info.features[image_key].shape)
    label = info.features[label_key]
    if len(shape) != 3 or None in shape or shape[0] != shape[1] or shape[2] not in (1, 3):
        raise ValueError(f"{name} has images of shape {shape}; tfnas takes one fixed square size with 1 or 3 "
                         f"channels (resize the data into a folder dataset otherwise).")
    test_split = "test" if "test" in info.splits else "validation" if "validation" in info.splits else None
    if "train" not in info.splits or test_split is None:
        raise ValueError(f"{name} needs a train split and a test or validation split. Has: {sorted(info.splits)}")

    def split(which: str) -> tf.data.Dataset:
        ds = builder.as_dataset(split=which, as_supervised=True, shuffle_files=False)
        return ds.map(lambda x, y: (tf.image.grayscale_to_rgb(x) if shape[2] == 1 else x, tf.cast(y, tf.int64)))

    from tfnas.data.cifar10 import cache_dir

    cache = cache_dir() / "user_datasets" / f"tfds-{builder_name.replace('/', '-')}-{info.version}.json"

    def statistics() -> dict[str, Any]:
        total, total_sq, pixels = np.zeros(3), np.zeros(3), 0
        for x, _ in split("train").take(TFDS_STATS_IMAGES).batch(512):
            values = x.numpy().reshape(-1, 3).astype(np.float64) / 255.0
            total, total_sq, pixels = total + values.sum(0), total_sq + (values * values).sum(0), pixels + len(values)
        mean = total / pixels
        return {"mean": mean.tolist(),
                "std": np.maximum(np.sqrt(np.maximum(total_sq / pixels - mean * mean, 0)), 1e-3).tolist()}

    stats = _cached(cache, statistics)

    def load(data_dir: str | None = None, **kwargs: Any):
        del data_dir
        if kwargs:
            raise ValueError(f"A tfds dataset takes no loader options. Received: {sorted(kwargs)}")
        return split("train"), split(test_split)

    names = tuple(label.names) if getattr(label, "names", None) else tuple(str(i) for i in range(label.num_classes))
    return DatasetSpec(
        name=name, load=load, image_shape=(shape[0], shape[1], 3), num_classes=int(label.num_classes),
        class_names=names, mean=tuple(stats["mean"]), std=tuple(stats["std"]),
        num_train=int(info.splits["train"].num_examples), num_test=int(info.splits[test_split].num_examples),
        in_memory=False)
