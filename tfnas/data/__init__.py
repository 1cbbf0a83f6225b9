"""tfnas.data: real datasets and their tf.data pipelines.

Datasets (registered by name in `DATASETS`):
    `"cifar10"`: CIFAR-10 through tensorflow-datasets, offline from the shared JPEG archive
        (`Cifar10Local`) or online with the stock builder (`source="tfds"`).
    `"digits"`: scikit-learn's bundled 8x8 digits, resized, no download.

Pipelines:
    `load_splits(name)` -> raw `(uint8 image, int64 label)` train/test datasets;
    `make_train_dataset` / `make_eval_dataset` -> batched, augmented / normalized datasets;
    `bilevel_split` / `make_bilevel_dataset` -> the weights/architecture split of
    differentiable NAS; `tfnas.data.distribute` -> per-replica pipelines under a strategy.

Example:
>>> from tfnas import data
>>> train, test = data.load_splits("digits")
>>> batches = data.make_bilevel_dataset(train, 32, dataset="digits")
"""

from tfnas.data import cifar10 as _cifar10  # noqa: F401  (registers "cifar10")
from tfnas.data import digits as _digits  # noqa: F401  (registers "digits")
from tfnas.data.augment import cifar_augment, cutout, cutout_mask, normalize, random_crop, random_flip_left_right
from tfnas.data.bilevel import bilevel_split, bilevel_steps_per_epoch, make_bilevel_dataset, split_sizes
from tfnas.data.catalog import DATASETS, DatasetSpec, get_dataset_spec, load_splits, register_dataset
from tfnas.data.cifar10 import (
    CIFAR10_CLASS_NAMES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    Cifar10Local,
    cache_dir,
    cifar10_builder,
    cifar10_features,
    load_cifar10_splits,
)
from tfnas.data.digits import DIGITS_MEAN, DIGITS_STD, load_digits_arrays, load_digits_splits
from tfnas.data.distribute import (
    distribute_bilevel_dataset,
    distribute_global_batches,
    distribute_dataset,
    distribute_train_dataset,
    per_replica_batch_size,
)
from tfnas.data.pipeline import make_eval_dataset, make_train_dataset, resolve_flip, resolve_stats, shard_for_input

__all__ = [
    "CIFAR10_CLASS_NAMES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "Cifar10Local",
    "DATASETS",
    "DIGITS_MEAN",
    "DIGITS_STD",
    "DatasetSpec",
    "bilevel_split",
    "bilevel_steps_per_epoch",
    "cache_dir",
    "cifar10_builder",
    "cifar10_features",
    "cifar_augment",
    "cutout",
    "cutout_mask",
    "distribute_bilevel_dataset",
    "distribute_global_batches",
    "distribute_dataset",
    "distribute_train_dataset",
    "get_dataset_spec",
    "load_cifar10_splits",
    "load_digits_arrays",
    "load_digits_splits",
    "load_splits",
    "make_bilevel_dataset",
    "make_eval_dataset",
    "make_train_dataset",
    "normalize",
    "per_replica_batch_size",
    "random_crop",
    "random_flip_left_right",
    "register_dataset",
    "resolve_flip",
    "resolve_stats",
    "shard_for_input",
    "split_sizes",
]
