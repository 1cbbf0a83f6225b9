"""The dataset catalog: named datasets, their normalization statistics, and `load_splits`.

Every dataset tfnas can train on registers a `DatasetSpec` in `DATASETS` (a decorator
registry that refuses duplicate names). A spec's `load` function returns the raw train
and test splits as `tf.data.Dataset`s of `(image, label)`: image `uint8` `[H, W, C]`,
label `int64` scalar. Augmentation, normalization and batching happen later, in
`tfnas.data.pipeline`, so every dataset goes through the same pipeline.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfnas.data.spec import DatasetSpec, SplitLoader  # noqa: F401  (re-exported: the catalog's vocabulary)
from tfnas.registry import Registry

#: dataset name -> DatasetSpec. Filled by `tfnas.data.cifar10`, `tfnas.data.digits`, ...
DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Adds `spec` to `DATASETS` under `spec.name`.

    Args:
        spec: The dataset description.

    Returns:
        `spec`, unchanged.

    Raises:
        ValueError: if a dataset of that name is already registered.

    Example:
    >>> register_dataset(DatasetSpec("my_set", my_loader, (32, 32, 3), 10, names,
    ...                               mean, std, num_train=1000, num_test=200))  # doctest: +SKIP
    """
    DATASETS.register(spec.name, spec)
    return spec


def get_dataset_spec(name: str) -> DatasetSpec:
    """Returns the registered `DatasetSpec` called `name`.

    Args:
        name: A registered dataset name, e.g. `"cifar10"` or `"digits"`, or the path of a
            folder of the user's images, or `tfds:NAME[:CONFIG]`, a tensorflow-datasets
            builder prepared offline (`tfnas.data.user`), registered on first use.

    Returns:
        The `DatasetSpec`.

    Raises:
        KeyError: naming the unknown dataset and listing the known ones.
        FileNotFoundError / ValueError: for a folder that is missing or unusable (the
            message names the path and the fix).

    Example:
    >>> get_dataset_spec("cifar10").num_classes
    10
    """
    if name not in DATASETS and isinstance(name, str):
        from tfnas.data import user

        if name.startswith(user.TFDS_PREFIX):
            DATASETS.register(name, user.tfds_dataset_spec(name))
        elif user.looks_like_folder(name):
            DATASETS.register(name, user.user_dataset_spec(name))
    return DATASETS.get(name)


def load_splits(
    name: str, data_dir: str | None = None, **kwargs: Any
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Loads the train and test splits of a registered dataset.

    Args:
        name: A registered dataset name: `"cifar10"` (real CIFAR-10 through
            tensorflow-datasets) or `"digits"` (scikit-learn's bundled 8x8 digits, resized),
            or a folder of images (see `get_dataset_spec`).
        data_dir: Where the dataset's source files live (for `"cifar10"`: the shared data
            folder holding `cifar10/cifar10_jpg.tar.gz`; default `$TFNAS_DATA_DIR`).
            Ignored by datasets that need no files (`"digits"`).
        **kwargs: Passed to the dataset's loader (e.g. `source="tfds"` for CIFAR-10,
            `image_size=16` or `seed=1` for digits).

    Returns:
        `(train_ds, test_ds)`: unbatched `tf.data.Dataset`s of `(image, label)` with image
        `uint8` `[H, W, C]` and label `int64` scalar, in a fixed order.

    Raises:
        KeyError: if `name` is not a registered dataset.
        ValueError, FileNotFoundError: from the loader, e.g. when the data folder is unset
            or missing.

    Example:
    >>> train, test = load_splits("digits")
    >>> int(train.cardinality()), int(test.cardinality())
    (1437, 360)
    """
    return get_dataset_spec(name).load(data_dir=data_dir, **kwargs)
