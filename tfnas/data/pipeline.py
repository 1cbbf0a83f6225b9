"""Training and evaluation input pipelines: shuffle, augment, normalize, batch, prefetch.

Both take the raw `(uint8 image, int64 label)` splits of `tfnas.data.load_splits` and
return batched `(float32 normalized images, int64 labels)`. Augmentation runs on whole
batches (see `tfnas.data.augment`) with a per-batch stateless seed drawn from
`tf.data.Dataset.random(seed)`, so the stream of batches is a function of `seed` alone,
and each new pass over the data (a Keras epoch) gets a new shuffle and new draws.

`batch_size` is always the batch size of the dataset these functions return. Under a
`tf.distribute.Strategy`, build per-replica pipelines with `tfnas.data.distribute`, which
takes the GLOBAL batch size and divides it by the number of replicas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfnas.data import augment as augment_lib
from tfnas.data.catalog import get_dataset_spec

#: Explicit normalization statistics `(mean, std)`, per channel, on the [0, 1] scale.
Stats = tuple[Sequence[float], Sequence[float]]

_MAX_SHUFFLE_BUFFER = 50_000
_FALLBACK_SHUFFLE_BUFFER = 10_000
#: Bytes of decoded images a streamed dataset's shuffle buffer may hold (its files are already
#: in a seeded random order, so a bounded buffer mixes them; the whole split would not fit).
STREAM_SHUFFLE_BYTES = 256 * 2**20
_AUGMENT_SEED_SALT = 0x5EED


def resolve_stats(dataset: str = "cifar10", stats: Stats | None = None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Returns `(mean, std)`: `stats` when given, else the registered dataset's statistics.

    Args:
        dataset: A registered dataset name (e.g. `"cifar10"`, `"digits"`).
        stats: Explicit `(mean, std)` overriding the dataset's, or None.

    Returns:
        `(mean, std)` as tuples of floats on the [0, 1] scale.

    Raises:
        KeyError: for an unknown dataset name (when `stats` is None).
        ValueError: if `stats` is not a pair of equal-length sequences of numbers.

    Example:
    >>> resolve_stats("cifar10")[0]
    (0.4914, 0.4822, 0.4465)
    """
    if stats is None:
        spec = get_dataset_spec(dataset)
        return tuple(spec.mean), tuple(spec.std)
    try:
        mean, std = stats
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
    except (TypeError, ValueError):
        raise ValueError(f"stats must be a (mean, std) pair of sequences. Received: stats={stats!r}") from None
    if len(mean) != len(std):
        raise ValueError(f"stats mean and std must have equal lengths. Received: stats={stats!r}")
    return mean, std


def resolve_flip(dataset: str = "cifar10", flip: bool | None = None) -> bool:
    """Returns `flip` when given, else whether the registered dataset allows horizontal flips.

    Args:
        dataset: A registered dataset name.
        flip: Explicit choice, or None for the dataset's default.

    Returns:
        Whether to apply random horizontal flips.

    Example:
    >>> resolve_flip("digits")
    False
    """
    return get_dataset_spec(dataset).horizontal_flip if flip is None else bool(flip)


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")


def _shuffle_buffer(ds: tf.data.Dataset, shuffle_buffer: int | None, dataset: str = "cifar10") -> int:
    if shuffle_buffer is not None:
        if shuffle_buffer < 1:
            raise ValueError(f"shuffle_buffer must be >= 1. Received: shuffle_buffer={shuffle_buffer}")
        return shuffle_buffer
    n = int(ds.cardinality())
    limit = _MAX_SHUFFLE_BUFFER
    spec = get_dataset_spec(dataset)
    if not spec.in_memory:  # the user's data: memory bounded by the pipeline, not the dataset
        h, w, c = spec.image_shape
        limit = max(256, min(limit, STREAM_SHUFFLE_BYTES // (h * w * c)))
    return min(n, limit) if n > 0 else min(_FALLBACK_SHUFFLE_BUFFER, limit)


def shard_for_input(ds: tf.data.Dataset, input_context: tf.distribute.InputContext | None) -> tf.data.Dataset:
    """Keeps this input pipeline's shard of `ds` (a no-op for one pipeline or no context).

    Args:
        ds: The dataset to shard (before shuffling, so the shards are disjoint).
        input_context: From `strategy.distribute_datasets_from_function`, or None.

    Returns:
        The shard `ds.shard(num_input_pipelines, input_pipeline_id)`, or `ds`.

    Example:
    >>> int(shard_for_input(tf.data.Dataset.range(4), None).cardinality())
    4
    """
    if input_context is None or input_context.num_input_pipelines == 1:
        return ds
    return ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)


def make_train_dataset(
    ds: tf.data.Dataset,
    batch_size: int,
    *,
    augment: bool = True,
    cutout: int = 16,
    padding: int = 4,
    flip: bool | None = None,
    dataset: str = "cifar10",
    stats: Stats | None = None,
    seed: int = 0,
    shuffle_buffer: int | None = None,
    repeat: bool = False,
    drop_remainder: bool = True,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Builds the shuffled, augmented, normalized, batched training pipeline.

    Order: (shard) -> shuffle (reshuffled every pass) -> (repeat) -> batch -> augment per
    batch with a stateless seed -> prefetch. Augmentation is the DARTS CIFAR recipe:
    pad-4 random crop, horizontal flip, normalization, cutout.

    References:
        Liu et al., DARTS, arXiv 1806.09055 (training transform);
        DeVries & Taylor, cutout, arXiv 1708.04552.

    Args:
        ds: Unbatched `(uint8 image [H, W, C], label)` dataset (e.g. from `load_splits`).
        batch_size: Examples per batch of the returned dataset. Under a distribution
            strategy this is the per-replica size: use `tfnas.data.distribute`, which takes
            the global size.
        augment: Apply crop/flip/cutout; False only normalizes.
        cutout: Side of the cutout square (0 disables it).
        padding: Zero padding of the random crop (0 disables the crop).
        flip: Apply the random horizontal flip; None: the dataset's default (True for
            CIFAR-10, False for digits).
        dataset: Registered dataset name whose normalization statistics (and flip default)
            apply.
        stats: Explicit `(mean, std)` overriding the dataset's statistics.
        seed: Seed of the shuffle and of the augmentation draws; the same seed gives the
            same stream of batches.
        shuffle_buffer: Shuffle buffer size; default the whole split (at most 50,000; for a
            streamed dataset at most `STREAM_SHUFFLE_BYTES` of decoded images, at least 256).
        repeat: Repeat forever (for step-based training loops and `make_bilevel_dataset`).
        drop_remainder: Drop the last partial batch, so every batch has `batch_size` rows.
        input_context: Shard for this input pipeline (set by `tfnas.data.distribute`).

    Returns:
        A dataset of `(float32 images [batch_size, H, W, C], labels [batch_size])`.

    Raises:
        ValueError: on a non-positive `batch_size`, `cutout`, `padding` or `shuffle_buffer`,
            or malformed `stats`.
        KeyError: for an unregistered `dataset`.

    Example:
    >>> train, _ = load_splits("digits")  # doctest: +SKIP
    >>> batches = make_train_dataset(train, 64, dataset="digits", seed=1)  # doctest: +SKIP
    >>> model.fit(batches, epochs=2)  # doctest: +SKIP
    """
    _check_batch_size(batch_size)
    if cutout < 0:
        raise ValueError(f"cutout must be >= 0. Received: cutout={cutout}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0. Received: padding={padding}")
    mean, std = resolve_stats(dataset, stats)
    flip = resolve_flip(dataset, flip)
    ds = shard_for_input(ds, input_context)
    ds = ds.shuffle(_shuffle_buffer(ds, shuffle_buffer, dataset), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed ^ _AUGMENT_SEED_SALT, rerandomize_each_iteration=True)
        base = tf.constant(seed, tf.int64)

        def _augment(batch: tuple[tf.Tensor, tf.Tensor], draw: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            images, labels = batch
            images = augment_lib.cifar_augment(
                images, tf.stack([base, draw]), mean=mean, std=std, padding=padding, flip=flip,
                cutout_size=cutout,
            )
            return images, labels

        ds = tf.data.Dataset.zip((ds, seeds)).map(_augment, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (augment_lib.normalize(x, mean, std), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(
    ds: tf.data.Dataset,
    batch_size: int,
    *,
    dataset: str = "cifar10",
    stats: Stats | None = None,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Builds the evaluation pipeline: normalize, batch (keeping the last partial batch), prefetch.

    Args:
        ds: Unbatched `(uint8 image, label)` dataset, e.g. the test split of `load_splits`.
        batch_size: Examples per batch (per replica under a strategy; see `make_train_dataset`).
        dataset: Registered dataset name whose normalization statistics apply.
        stats: Explicit `(mean, std)` overriding the dataset's statistics.
        input_context: Shard for this input pipeline, or None.

    Returns:
        A dataset of `(float32 images [<=batch_size, H, W, C], labels)` in the input order.

    Raises:
        ValueError: on a non-positive `batch_size` or malformed `stats`.
        KeyError: for an unregistered `dataset`.

    Example:
    >>> _, test = load_splits("digits")  # doctest: +SKIP
    >>> model.evaluate(make_eval_dataset(test, 256, dataset="digits"))  # doctest: +SKIP
    """
    _check_batch_size(batch_size)
    mean, std = resolve_stats(dataset, stats)
    ds = shard_for_input(ds, input_context)
    ds = ds.batch(batch_size, drop_remainder=False)
    ds = ds.map(lambda x, y: (augment_lib.normalize(x, mean, std), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def resize_examples(image_size: int):
    """A `tf.data` map function: `(uint8 image, label)` resized to `image_size` (area
    resampling, rounded back to uint8), as every proxy below the native size sees its images."""

    def _fn(image, label):
        resized = tf.image.resize(image, (image_size, image_size), method="area")
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8), label

    return _fn


def normalized_arrays(ds: tf.data.Dataset, dataset: str = "cifar10",
                      stats: Stats | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A finite `(uint8 image, label)` dataset as in-memory arrays, normalised as the training
    pipeline normalises (`resolve_stats`): `(x [N, H, W, C] float32, y [N] int64)`. For the
    small rating and test sets that are scored many times; training streams through `tf.data`.
    """
    mean, std = resolve_stats(dataset, stats)
    parts = [(a.numpy(), b.numpy()) for a, b in ds.batch(8192)]
    if not parts:
        raise ValueError(f"normalized_arrays got an empty dataset ({dataset!r}): check the split and its size.")
    x, y = (np.concatenate(p) for p in zip(*parts))
    x = (x.astype(np.float32) / 255.0 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return x, y.astype(np.int64)
