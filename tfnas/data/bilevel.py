"""The bilevel split: one part of the training set for the weights, the other for the architecture.

Differentiable NAS (DARTS, arXiv 1806.09055, and its family) trains the network weights on
one half of the training set and the architecture parameters on the other half
(`train_portion=0.5`), alternating one step of each per iteration with a fresh batch from
each part. `bilevel_split` makes the two parts from a seeded permutation of the example
indices; `make_bilevel_dataset` zips two separately shuffled, repeated, augmented pipelines
so that one `tf.data` iterator (the one Keras `fit` keeps across steps and epochs) yields
`((x_train, y_train), (x_val, y_val))` with a new batch of each part every step.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfnas.data.pipeline import Stats, make_train_dataset, shard_for_input

_ARCH_SEED_OFFSET = 7919  # Keeps the architecture pipeline's draws apart from the weights'.


def _num_examples(ds: tf.data.Dataset) -> int:
    n = int(ds.cardinality())
    if n < 0:
        kind = "infinite" if n == tf.data.INFINITE_CARDINALITY else "unknown"
        raise ValueError(
            f"train_ds must have a known, finite cardinality to be split; it is {kind}. Split the "
            "dataset before repeating it, or declare its size with "
            "`ds.apply(tf.data.experimental.assert_cardinality(n))`."
        )
    return n


def split_sizes(num_examples: int, train_portion: float = 0.5) -> tuple[int, int]:
    """Returns `(num_weights, num_arch)`: the sizes of the two parts of a bilevel split.

    `num_weights = floor(train_portion * num_examples)` as in the DARTS code.

    Args:
        num_examples: Size of the training set.
        train_portion: Fraction of it used for the weights, in (0, 1).

    Returns:
        The two sizes; they sum to `num_examples`.

    Raises:
        ValueError: if `train_portion` is not in (0, 1) or a part would be empty.

    Example:
    >>> split_sizes(50000)
    (25000, 25000)
    """
    if not 0.0 < train_portion < 1.0:
        raise ValueError(f"train_portion must be in (0, 1). Received: train_portion={train_portion!r}")
    num_weights = int(np.floor(train_portion * num_examples))
    if num_weights == 0 or num_weights == num_examples:
        raise ValueError(
            f"train_portion={train_portion!r} of {num_examples} examples leaves one part empty."
        )
    return num_weights, num_examples - num_weights


def bilevel_split(
    train_ds: tf.data.Dataset, train_portion: float = 0.5, seed: int = 0
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Splits a training set into a weights part and an architecture part.

    A permutation of the indices `0..n-1` drawn with `numpy.random.default_rng(seed)`
    assigns the first `floor(train_portion * n)` of them to the weights part and the rest
    to the architecture part: the parts are disjoint, cover the set, and depend only on
    `seed`. Each part keeps the input order and has a known cardinality. Each pass reads
    the whole input (filtering by index), so cache an expensive input upstream if needed.

    References:
        Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

    Args:
        train_ds: Unbatched training set of known, finite cardinality.
        train_portion: Fraction of the examples for the weights part, in (0, 1).
        seed: Seed of the permutation.

    Returns:
        `(weights_ds, arch_ds)`, unbatched, with the input's element structure.

    Raises:
        ValueError: if `train_ds`'s cardinality is unknown or infinite, or `train_portion`
            is not in (0, 1) or leaves a part empty.

    Example:
    >>> w, a = bilevel_split(tf.data.Dataset.range(10), train_portion=0.5, seed=0)
    >>> sorted(list(w.as_numpy_iterator()) + list(a.as_numpy_iterator())) == list(range(10))
    True
    """
    n = _num_examples(train_ds)
    num_weights, num_arch = split_sizes(n, train_portion)
    order = np.random.default_rng(seed).permutation(n)
    in_weights = np.zeros(n, dtype=bool)
    in_weights[order[:num_weights]] = True
    table = tf.constant(in_weights)
    indexed = train_ds.enumerate()

    def _part(keep: bool, size: int) -> tf.data.Dataset:
        part = indexed.filter(lambda i, _: tf.equal(tf.gather(table, i), keep))
        part = part.map(lambda _, element: element)
        return part.apply(tf.data.experimental.assert_cardinality(size))

    return _part(True, num_weights), _part(False, num_arch)


def bilevel_steps_per_epoch(num_examples: int, batch_size: int, train_portion: float = 0.5) -> int:
    """Returns the steps of one epoch over the weights part (DARTS's definition of an epoch).

    Args:
        num_examples: Size of the training set before the split.
        batch_size: Batch size of each part (global under a strategy).
        train_portion: Fraction of the examples for the weights part.

    Returns:
        `floor(num_weights / batch_size)`.

    Raises:
        ValueError: on a bad `train_portion` or a `batch_size` larger than the weights part.

    Example:
    >>> bilevel_steps_per_epoch(50000, 64)
    390
    """
    num_weights, _ = split_sizes(num_examples, train_portion)
    if batch_size < 1 or batch_size > num_weights:
        raise ValueError(
            f"batch_size must be in [1, {num_weights}] (the weights part). Received: batch_size={batch_size}"
        )
    return num_weights // batch_size


def make_bilevel_dataset(
    train_ds: tf.data.Dataset,
    batch_size: int,
    *,
    train_portion: float = 0.5,
    split_seed: int = 0,
    seed: int = 0,
    augment: bool = True,
    cutout: int = 0,
    padding: int = 4,
    flip: bool | None = None,
    dataset: str = "cifar10",
    stats: Stats | None = None,
    shuffle_buffer: int | None = None,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Builds the infinite bilevel dataset of `((x_train, y_train), (x_val, y_val))` batches.

    The training set is split by `bilevel_split`; each part goes through its own
    `make_train_dataset(..., repeat=True)` pipeline (own shuffle seed, reshuffled every
    pass over the part, own augmentation draws), and the two are zipped. Iterating it once
    (Keras `fit` keeps one iterator) yields a fresh batch of each part every step; neither
    pipeline restarts between steps. The dataset is infinite: pass `steps_per_epoch`
    (e.g. `bilevel_steps_per_epoch(n, batch_size)`) to `fit`.

    The default `cutout=0` follows the DARTS search script (cutout only for final training).

    References:
        Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

    Args:
        train_ds: Unbatched training set `(uint8 image, label)` of known cardinality.
        batch_size: Batch size of each part (per replica under a strategy; see
            `tfnas.data.distribute`, which takes the global size).
        train_portion: Fraction of the examples for the weights part.
        split_seed: Seed of the split (keep it fixed across a run and its resumption).
        seed: Seed of the shuffles and augmentation draws.
        augment: Apply crop/flip/cutout (False only normalizes).
        cutout: Side of the cutout square (0 disables it).
        padding: Zero padding of the random crop.
        flip: Apply the random horizontal flip; None: the dataset's default.
        dataset: Registered dataset name whose normalization statistics (and flip
            default) apply.
        stats: Explicit `(mean, std)` overriding the dataset's statistics.
        shuffle_buffer: Shuffle buffer of each part; default the whole part.
        input_context: Shard each part for this input pipeline (set by `tfnas.data.distribute`).

    Returns:
        An infinite dataset of `((x_train, y_train), (x_val, y_val))`, each `x` float32
        `[batch_size, H, W, C]`.

    Raises:
        ValueError: as `bilevel_split` and `make_train_dataset`.

    Example:
    >>> train, _ = load_splits("cifar10")  # doctest: +SKIP
    >>> data = make_bilevel_dataset(train, 64)  # doctest: +SKIP
    >>> search.fit(data, epochs=50, steps_per_epoch=bilevel_steps_per_epoch(50000, 64))  # doctest: +SKIP
    """
    weights_part, arch_part = bilevel_split(train_ds, train_portion, split_seed)
    common = dict(
        augment=augment, cutout=cutout, padding=padding, flip=flip, dataset=dataset, stats=stats,
        shuffle_buffer=shuffle_buffer, repeat=True, drop_remainder=True,
    )
    weights_ds = make_train_dataset(shard_for_input(weights_part, input_context), batch_size, seed=seed, **common)
    arch_ds = make_train_dataset(
        shard_for_input(arch_part, input_context), batch_size, seed=seed + _ARCH_SEED_OFFSET, **common
    )
    return tf.data.Dataset.zip((weights_ds, arch_ds)).prefetch(tf.data.AUTOTUNE)
