"""Per-replica input pipelines under a `tf.distribute.Strategy`.

Every function here takes the GLOBAL batch size (examples per step over all replicas),
checks that the number of replicas divides it, and builds one pipeline per input pipeline
(worker) with `strategy.distribute_datasets_from_function`, batched at the per-replica size
`global_batch_size // num_replicas_in_sync`: each pipeline reads its shard of the data
(`input_context.input_pipeline_id` of `num_input_pipelines`), except the search's bilevel
data, whose pipelines by default slice the one-device run's global batches so that a
distributed search sees the same batches (`distribute_bilevel_dataset`). Keras `fit`
accepts the returned `tf.distribute.DistributedDataset` as it is.

(Keras `fit` can also distribute a plain dataset batched at the global size, splitting each
batch across replicas; building per-replica pipelines instead keeps augmentation on each
worker and the sharding explicit.)
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import tensorflow as tf

from tfnas.data.bilevel import make_bilevel_dataset
from tfnas.data.pipeline import make_train_dataset

#: `dataset_fn(per_replica_batch_size, input_context) -> tf.data.Dataset`.
DatasetFn = Callable[[int, tf.distribute.InputContext], tf.data.Dataset]
_PIPELINE_SEED_STRIDE = 1_000_003


def per_replica_batch_size(strategy: tf.distribute.Strategy, global_batch_size: int) -> int:
    """Returns `global_batch_size // strategy.num_replicas_in_sync`, checking divisibility.

    Args:
        strategy: The distribution strategy.
        global_batch_size: Examples per step over all replicas.

    Returns:
        Examples per replica per step.

    Raises:
        ValueError: if `global_batch_size` is not a positive multiple of the replica count.

    Example:
    >>> per_replica_batch_size(tf.distribute.get_strategy(), 128)
    128
    """
    replicas = strategy.num_replicas_in_sync
    if not isinstance(global_batch_size, int) or global_batch_size < 1 or global_batch_size % replicas:
        raise ValueError(
            f"global_batch_size must be a positive multiple of the number of replicas ({replicas}). "
            f"Received: global_batch_size={global_batch_size!r}"
        )
    return global_batch_size // replicas


def distribute_dataset(
    strategy: tf.distribute.Strategy, global_batch_size: int, dataset_fn: DatasetFn
) -> tf.distribute.DistributedDataset:
    """Builds per-replica pipelines with `strategy.distribute_datasets_from_function`.

    Args:
        strategy: The distribution strategy.
        global_batch_size: Examples per step over all replicas.
        dataset_fn: `dataset_fn(per_replica_batch_size, input_context)` returning this
            input pipeline's dataset, batched at `per_replica_batch_size` and sharded with
            `input_context` (e.g. through `tfnas.data.pipeline.shard_for_input`).

    Returns:
        The distributed dataset, ready for `model.fit` or `strategy.run`.

    Raises:
        ValueError: if `global_batch_size` is not a multiple of the replica count.

    Example:
    >>> dist = distribute_dataset(strategy, 128, lambda b, ctx: make_eval_dataset(
    ...     test, b, input_context=ctx))  # doctest: +SKIP
    """
    per_replica_batch_size(strategy, global_batch_size)  # Validates before any tracing.

    def _fn(input_context: tf.distribute.InputContext) -> tf.data.Dataset:
        return dataset_fn(input_context.get_per_replica_batch_size(global_batch_size), input_context)

    return strategy.distribute_datasets_from_function(_fn)


def distribute_train_dataset(
    strategy: tf.distribute.Strategy,
    train_ds: tf.data.Dataset,
    global_batch_size: int,
    *,
    seed: int = 0,
    **kwargs: Any,
) -> tf.distribute.DistributedDataset:
    """`make_train_dataset` per replica: each step consumes `global_batch_size` examples.

    Args:
        strategy: The distribution strategy.
        train_ds: Unbatched `(uint8 image, label)` training set.
        global_batch_size: Examples per step over all replicas.
        seed: Base seed; input pipeline `i` uses `seed + i * 1000003`.
        **kwargs: Passed to `make_train_dataset` (augment, cutout, stats, repeat, ...).

    Returns:
        The distributed dataset of `(images, labels)` per replica.

    Raises:
        ValueError: if `global_batch_size` is not a multiple of the replica count.

    Example:
    >>> strategy = tf.distribute.MirroredStrategy()  # doctest: +SKIP
    >>> data = distribute_train_dataset(strategy, train, 256)  # doctest: +SKIP
    >>> model.fit(data, epochs=1)  # doctest: +SKIP
    """

    def _fn(batch: int, ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return make_train_dataset(
            train_ds, batch, seed=seed + ctx.input_pipeline_id * _PIPELINE_SEED_STRIDE, input_context=ctx, **kwargs
        )

    return distribute_dataset(strategy, global_batch_size, _fn)


def distribute_bilevel_dataset(
    strategy: tf.distribute.Strategy,
    train_ds: tf.data.Dataset,
    global_batch_size: int,
    *,
    seed: int = 0,
    same_as_one_device: bool = True,
    **kwargs: Any,
) -> tf.distribute.DistributedDataset:
    """`make_bilevel_dataset` per replica: each step takes `global_batch_size` from each part.

    With `same_as_one_device=True` (the default) every input pipeline builds the one-device
    stream of global batches (`make_bilevel_dataset(train_ds, global_batch_size, seed=seed)`)
    and keeps its replicas' rows of each: replica `r` of `R` gets rows `[r * B / R, (r + 1) * B
    / R)` of every global batch, so a step on any number of replicas or workers sees exactly
    the images, crops and flips of the one-device step with the same seed (a search on a
    cluster reproduces the one-machine search up to per-replica BatchNorm statistics and
    the order of float sums). Each pipeline then decodes and augments the whole global
    batch. With `False` each pipeline reads a disjoint shard with its own seed (`seed + i *
    1000003`), the input work divided between workers, the batches unlike the one-device run's.

    The split itself (`split_seed`) is the same on every input pipeline.

    Args:
        strategy: The distribution strategy.
        train_ds: Unbatched `(uint8 image, label)` training set of known cardinality.
        global_batch_size: Examples per step and per part over all replicas.
        seed: Base seed of shuffles and augmentation.
        same_as_one_device: Slice the one-device global batches (True) or shard the data (False).
        **kwargs: Passed to `make_bilevel_dataset` (train_portion, split_seed, cutout, ...).

    Returns:
        The distributed dataset of `((x_train, y_train), (x_val, y_val))` per replica.

    Raises:
        ValueError: if `global_batch_size` is not a multiple of the replica count, or as
            `make_bilevel_dataset`.

    Example:
    >>> data = distribute_bilevel_dataset(strategy, train, 128)  # doctest: +SKIP
    >>> search.fit(data, epochs=50, steps_per_epoch=390)  # doctest: +SKIP
    """
    if same_as_one_device:
        return distribute_global_batches(
            strategy, global_batch_size, lambda: make_bilevel_dataset(train_ds, global_batch_size, seed=seed, **kwargs)
        )

    def _fn(batch: int, ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        return make_bilevel_dataset(
            train_ds, batch, seed=seed + ctx.input_pipeline_id * _PIPELINE_SEED_STRIDE, input_context=ctx, **kwargs
        )

    return distribute_dataset(strategy, global_batch_size, _fn)


def distribute_global_batches(
    strategy: tf.distribute.Strategy, global_batch_size: int, make_global: Callable[[], tf.data.Dataset]
) -> tf.distribute.DistributedDataset:
    """Each replica gets its rows of every batch of the one-device pipeline `make_global()`.

    Every input pipeline (worker) builds the same stream of global batches (same seeds,
    same shuffles and augmentation draws) and keeps its replicas' rows: replica `r` of `R`
    gets rows `[r * B / R, (r + 1) * B / R)`, so a step on any number of replicas or workers
    sees exactly the examples of the one-device step. Each worker decodes and augments the
    whole global batch (the price of that equality).

    Args:
        strategy: The distribution strategy.
        global_batch_size: Rows of every batch of `make_global()` (batched with `drop_remainder`).
        make_global: Builds the one-device dataset of global batches (any nesting of tensors
            whose first dimension is the batch).

    Raises:
        ValueError: if `global_batch_size` is not a multiple of the replica count.
    """
    replicas = strategy.num_replicas_in_sync

    def _fn(batch: int, ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        # A worker's local replicas are consecutive and take its batches in turn, so the
        # worker's rows of each global batch are re-batched per replica.
        local = replicas // ctx.num_input_pipelines
        lo = ctx.input_pipeline_id * local * batch

        def rows(*parts):
            kept = tf.nest.map_structure(lambda t: t[lo:lo + local * batch], parts)
            return kept if len(parts) > 1 else kept[0]

        return make_global().map(rows).unbatch().batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return distribute_dataset(strategy, global_batch_size, _fn)
