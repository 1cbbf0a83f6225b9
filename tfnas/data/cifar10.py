"""CIFAR-10 through tensorflow-datasets: the stock builder online, a local builder offline.

Two sources give the same `tf.data.Dataset`s (`(uint8 [32, 32, 3], int64 label)`, same
feature spec, same label ids):

* `source="tfds"`: the stock `cifar10` builder, which downloads the official binary
  batches (needs the internet).
* `source="local"` (default): `Cifar10Local` (tfds name `cifar10_local`), a
  `tfds.core.GeneratorBasedBuilder` that reads the JPEG copy
  `<data_dir>/cifar10/cifar10_jpg.tar.gz` (layout
  `cifar10_jpg/{train,test}/<class>/NNNN.jpg`) through tfds's manual-download mechanism
  (`DownloadConfig(manual_dir=<data_dir>/cifar10)`). The archive is read as a stream and
  the JPEG bytes are stored as they are (the `Image` feature accepts encoded bytes), so
  nothing is decoded or re-encoded, and nothing is extracted to disk: preparation takes
  seconds. The prepared TFRecords live in `<cache_dir>/tfds` (`$TFNAS_CACHE_DIR`, default
  `~/.cache/tfnas`), so later loads only open them.

Examples are generated in a fixed order (split, class id, index within class); as in the
stock builder, tfds stores them in the deterministic order of its key hash. The `id`
feature is `"<split>_<class>_<NNNN>"` (e.g. `"train_cat_0042"`, the file
`train/cat/0042.jpg`); the stock builder's ids are `"train_<global index>"`, which the
per-class JPEG layout cannot reconstruct.
"""

from __future__ import annotations

import os
import pathlib
import tarfile
import zlib
from collections.abc import Iterator

import tensorflow as tf
import tensorflow_datasets as tfds
from etils import epath

from tfnas.data.catalog import DatasetSpec, register_dataset

#: Official CIFAR-10 label order (label id = position).
CIFAR10_CLASS_NAMES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
#: Per-channel mean / std of the CIFAR-10 training images on the [0, 1] scale (DARTS recipe).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)

#: File name of the local JPEG copy, looked for in `<data_dir>/cifar10/`.
ARCHIVE_NAME = "cifar10_jpg.tar.gz"
ARCHIVE_MD5 = "2fd4db230f2bfb6baa4981d4dbe29088"
_ARCHIVE_ROOT = "cifar10_jpg"
_SPLIT_SIZES = {"train": 5000, "test": 1000}  # images per class
_SET_DATA_DIR = (
    f"set TFNAS_DATA_DIR=/path/to/shared/data (the folder holding cifar10/{ARCHIVE_NAME}), or pass "
    "data_dir= (--data_dir in launch scripts); with internet access, source='tfds' downloads "
    "the official data instead"
)


def cache_dir() -> pathlib.Path:
    """Returns the tfnas cache folder: `$TFNAS_CACHE_DIR`, else `~/.cache/tfnas`.

    Returns:
        The folder (not created here).

    Example:
    >>> cache_dir().name  # doctest: +SKIP
    'tfnas'
    """
    return pathlib.Path(os.environ.get("TFNAS_CACHE_DIR") or pathlib.Path.home() / ".cache" / "tfnas")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Returns the shared data folder: `data_dir`, else `$TFNAS_DATA_DIR`.

    Args:
        data_dir: The folder holding `cifar10/`, or None to read `TFNAS_DATA_DIR`.

    Returns:
        The folder, as an absolute path.

    Raises:
        ValueError: if neither `data_dir` nor `TFNAS_DATA_DIR` is set.
        FileNotFoundError: if the folder does not exist.

    Example:
    >>> resolve_data_dir("/work/shared/data")  # doctest: +SKIP
    PosixPath('/work/shared/data')
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("TFNAS_DATA_DIR") or None
        if data_dir is None:
            raise ValueError(f"No data location for CIFAR-10: data_dir=None and TFNAS_DATA_DIR is unset; {_SET_DATA_DIR}.")
    path = pathlib.Path(data_dir).expanduser().absolute()
    if not path.is_dir():
        raise FileNotFoundError(f"Data folder not found. Received: data_dir={str(path)!r}; {_SET_DATA_DIR}.")
    return path


def archive_path(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Returns the path of the local CIFAR-10 archive, checking that it exists.

    Args:
        data_dir: The shared data folder (default `$TFNAS_DATA_DIR`).

    Returns:
        `<data_dir>/cifar10/cifar10_jpg.tar.gz`.

    Raises:
        ValueError: if no data location is given or set.
        FileNotFoundError: if the folder or the archive is missing.

    Example:
    >>> archive_path("/work/shared/data").name  # doctest: +SKIP
    'cifar10_jpg.tar.gz'
    """
    path = resolve_data_dir(data_dir) / "cifar10" / ARCHIVE_NAME
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive not found at {str(path)!r}; {_SET_DATA_DIR}.")
    return path


def _read_archive(path: pathlib.Path) -> dict[str, list[tuple[int, int, bytes]]]:
    """Reads every JPEG of the archive into memory: split -> sorted [(label, index, bytes)]."""
    label_of = {name: i for i, name in enumerate(CIFAR10_CLASS_NAMES)}
    images: dict[str, list[tuple[int, int, bytes]]] = {"train": [], "test": []}
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 4 or not parts[3].endswith(".jpg"):
                    continue
                root, split, class_name, file_name = parts
                if root != _ARCHIVE_ROOT or split not in images or class_name not in label_of:
                    raise ValueError(
                        f"Unexpected entry {member.name!r} in {str(path)!r}: expected "
                        f"{_ARCHIVE_ROOT}/{{train,test}}/<class>/NNNN.jpg with classes {CIFAR10_CLASS_NAMES}."
                    )
                data = archive.extractfile(member).read()
                images[split].append((label_of[class_name], int(file_name[:-4]), data))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ValueError(
            f"The CIFAR-10 archive {str(path)!r} is corrupt or truncated and cannot be read "
            f"({type(error).__name__}: {error}). Copy it again (expected md5 {ARCHIVE_MD5})."
        ) from error
    for split, per_class in _SPLIT_SIZES.items():
        counts = [0] * len(CIFAR10_CLASS_NAMES)
        for label, _, _ in images[split]:
            counts[label] += 1
        if counts != [per_class] * len(CIFAR10_CLASS_NAMES):
            found = dict(zip(CIFAR10_CLASS_NAMES, counts))
            raise ValueError(
                f"The CIFAR-10 archive {str(path)!r} is incomplete: expected {per_class} {split} "
                f"images per class, found {found}. Copy it again (expected md5 {ARCHIVE_MD5})."
            )
        images[split].sort(key=lambda item: (item[0], item[1]))
    return images


def cifar10_features() -> tfds.features.FeaturesDict:
    """Returns the feature spec of the stock tfds `cifar10` builder, with its label names.

    Returns:
        `FeaturesDict(id=Text, image=Image(shape=(32, 32, 3)), label=ClassLabel(10 names))`.

    Example:
    >>> cifar10_features()["label"].names[:2]
    ['airplane', 'automobile']
    """
    return tfds.features.FeaturesDict(
        {
            "id": tfds.features.Text(),
            "image": tfds.features.Image(shape=(32, 32, 3)),
            "label": tfds.features.ClassLabel(names=list(CIFAR10_CLASS_NAMES)),
        }
    )


class _ThisFile:
    """Class-level `code_path` for `Cifar10Local`: the path of this module.

    tfds 4.9.10 derives `code_path` through `importlib_resources`, a package it declares
    only for Python < 3.9 yet imports on every Python; giving the path directly keeps the
    local builder independent of that package.
    """

    def __get__(self, obj: object, objtype: type | None = None) -> epath.Path:
        return epath.Path(__file__)


class Cifar10Local(tfds.core.GeneratorBasedBuilder):
    """CIFAR-10 from the local JPEG archive, with the stock `cifar10` builder's features.

    Prepare with the manual-download mechanism, pointing `manual_dir` at the folder that
    holds `cifar10_jpg.tar.gz`.

    Example:
    >>> builder = Cifar10Local(data_dir=str(cache_dir() / "tfds"))  # doctest: +SKIP
    >>> builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
    ...     manual_dir="/path/to/shared/data/cifar10"))  # doctest: +SKIP
    >>> train = builder.as_dataset(split="train", as_supervised=True)  # doctest: +SKIP
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "JPEG copy of CIFAR-10, bytes stored as they are."}
    code_path = _ThisFile()
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put {ARCHIVE_NAME} (layout {_ARCHIVE_ROOT}/{{train,test}}/<class>/NNNN.jpg) in manual_dir; "
        f"tfnas passes manual_dir=<data_dir>/cifar10 ({_SET_DATA_DIR})."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="CIFAR-10 (50,000 train / 10,000 test 32x32 RGB images) from a JPEG copy.",
            features=cifar10_features(),
            supervised_keys=("image", "label"),
            homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        path = pathlib.Path(dl_manager.manual_dir) / ARCHIVE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"CIFAR-10 archive not found at {str(path)!r}; {_SET_DATA_DIR}.")
        images = _read_archive(path)
        return {split: self._generate_examples(split, items) for split, items in images.items()}

    def _generate_examples(self, split: str, items: list[tuple[int, int, bytes]]) -> Iterator[tuple[str, dict]]:
        for label, index, data in items:
            key = f"{split}_{CIFAR10_CLASS_NAMES[label]}_{index:04d}"
            yield key, {"id": key, "image": data, "label": label}


def cifar10_builder(
    data_dir: str | os.PathLike | None = None,
    source: str = "local",
    tfds_data_dir: str | os.PathLike | None = None,
) -> tfds.core.DatasetBuilder:
    """Returns a prepared CIFAR-10 tfds builder (preparing it on first use).

    Args:
        data_dir: For `source="local"`: the shared data folder holding
            `cifar10/cifar10_jpg.tar.gz` (default `$TFNAS_DATA_DIR`). Unused for `"tfds"`.
        source: `"local"` (the JPEG archive, offline) or `"tfds"` (the stock builder,
            which downloads the official data).
        tfds_data_dir: Where tfds keeps the prepared data. Default: `<cache_dir()>/tfds`
            for `"local"`, tfds's own default (`~/tensorflow_datasets`) for `"tfds"`.

    Returns:
        The builder, with `download_and_prepare` done.

    Raises:
        ValueError: on an unknown `source`, an unset data location, or a corrupt archive.
        FileNotFoundError: if the data folder or the archive is missing.

    Example:
    >>> builder = cifar10_builder("/work/shared/data")  # doctest: +SKIP
    >>> builder.info.splits["train"].num_examples  # doctest: +SKIP
    50000
    """
    if source == "tfds":
        builder = tfds.builder("cifar10", data_dir=None if tfds_data_dir is None else str(tfds_data_dir))
        builder.download_and_prepare()
        return builder
    if source != "local":
        raise ValueError(f"source must be 'local' or 'tfds'. Received: source={source!r}")
    root = pathlib.Path(tfds_data_dir) if tfds_data_dir is not None else cache_dir() / "tfds"
    builder = Cifar10Local(data_dir=str(root))
    if not builder.is_prepared():
        archive = archive_path(data_dir)  # Checked only when preparing: a prepared cache needs no source.
        root.mkdir(parents=True, exist_ok=True)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=str(archive.parent))
        )
    return builder


def load_cifar10_splits(
    data_dir: str | os.PathLike | None = None,
    source: str = "local",
    tfds_data_dir: str | os.PathLike | None = None,
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Returns the CIFAR-10 train (50,000) and test (10,000) splits.

    Args:
        data_dir: The shared data folder holding `cifar10/cifar10_jpg.tar.gz`
            (default `$TFNAS_DATA_DIR`); used for `source="local"`.
        source: `"local"` (offline, from the JPEG archive) or `"tfds"` (stock builder,
            downloads the official data).
        tfds_data_dir: Where tfds keeps the prepared data (see `cifar10_builder`).

    Returns:
        `(train_ds, test_ds)` of `(image uint8 [32, 32, 3], label int64)` in the stored
        (deterministic) order, files not shuffled.

    Raises:
        ValueError: on an unknown `source`, an unset data location, or a corrupt archive.
        FileNotFoundError: if the data folder or the archive is missing.

    Example:
    >>> train, test = load_cifar10_splits("/work/shared/data")  # doctest: +SKIP
    >>> int(train.cardinality()), int(test.cardinality())  # doctest: +SKIP
    (50000, 10000)
    """
    builder = cifar10_builder(data_dir, source=source, tfds_data_dir=tfds_data_dir)
    train = builder.as_dataset(split="train", as_supervised=True, shuffle_files=False)
    test = builder.as_dataset(split="test", as_supervised=True, shuffle_files=False)
    return train, test


CIFAR10 = register_dataset(
    DatasetSpec(
        name="cifar10",
        load=load_cifar10_splits,
        image_shape=(32, 32, 3),
        num_classes=10,
        class_names=CIFAR10_CLASS_NAMES,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        num_train=50_000,
        num_test=10_000,
    )
)
