"""`DatasetSpec`: what the pipelines need to know about a dataset (its own module, so that
`tfnas.data.user` builds specs without importing the catalog that registers them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import tensorflow as tf

#: A split loader: `load(data_dir=None, **kwargs) -> (train_ds, test_ds)`.
SplitLoader = Callable[..., tuple[tf.data.Dataset, tf.data.Dataset]]


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What the pipelines need to know about a named dataset.

    Args:
        name: Registry name (e.g. `"cifar10"`).
        load: `load(data_dir=None, **kwargs) -> (train_ds, test_ds)` of `(uint8 image, int64 label)`.
        image_shape: `(height, width, channels)` of the images `load` yields by default.
        num_classes: Number of classes.
        class_names: Class names in label-id order.
        mean: Per-channel mean of the training images, on the [0, 1] scale.
        std: Per-channel standard deviation of the training images, on the [0, 1] scale.
        num_train: Number of training examples `load` yields by default.
        num_test: Number of test examples `load` yields by default.
        horizontal_flip: Whether random horizontal flips preserve the label (False for
            digits); the training pipeline's default for `flip`.
        in_memory: Whether a search may hold its (first N) training images in memory (the
            built-in sets); False streams them from `load` every pass (the user's data).
    """

    name: str
    load: SplitLoader
    image_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_train: int
    num_test: int
    horizontal_flip: bool = True
    in_memory: bool = True
