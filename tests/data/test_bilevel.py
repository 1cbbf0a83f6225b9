"""Tests for tfnas.data.bilevel: the weights/architecture split and the zipped bilevel dataset."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas import data


def _indexed(n):
    """A dataset whose 'images' encode their index, so parts can be traced back."""
    return tf.data.Dataset.range(n)


@pytest.mark.parametrize("n, portion", [(100, 0.5), (101, 0.5), (50, 0.3)])
def test_split_is_disjoint_covering_and_respects_portion(n, portion):
    weights, arch = data.bilevel_split(_indexed(n), train_portion=portion, seed=0)
    w, a = list(weights.as_numpy_iterator()), list(arch.as_numpy_iterator())
    assert len(w) == int(np.floor(portion * n)) == int(weights.cardinality())
    assert len(a) == n - len(w) == int(arch.cardinality())
    assert not set(w) & set(a) and sorted(w + a) == list(range(n))


def test_split_is_deterministic_by_seed_and_random():
    a1, _ = data.bilevel_split(_indexed(100), seed=1)
    a2, _ = data.bilevel_split(_indexed(100), seed=1)
    b, _ = data.bilevel_split(_indexed(100), seed=2)
    first = list(a1.as_numpy_iterator())
    assert first == list(a2.as_numpy_iterator())
    assert first != list(b.as_numpy_iterator())
    assert first != list(range(50))  # a permutation, not the first half


def test_split_rejects_bad_input():
    with pytest.raises(ValueError, match="train_portion"):
        data.bilevel_split(_indexed(10), train_portion=1.0)
    with pytest.raises(ValueError, match="cardinality"):
        data.bilevel_split(_indexed(10).filter(lambda i: i > 2))
    with pytest.raises(ValueError, match="infinite"):
        data.bilevel_split(_indexed(10).repeat())


def _tagged_images(n=48, size=8):
    """uint8 images whose first pixel is their index: (image, label=index)."""
    images = np.zeros((n, size, size, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n)
    return tf.data.Dataset.from_tensor_slices((images, np.arange(n, dtype=np.int64)))


def test_bilevel_dataset_gives_two_fresh_batches_every_step():
    n, batch = 48, 8
    ds = data.make_bilevel_dataset(
        _tagged_images(n), batch, augment=False, stats=((0.0,) * 3, (1.0,) * 3), seed=3
    )
    weights_part, arch_part = data.bilevel_split(_tagged_images(n), 0.5, seed=0)
    weights_ids = {int(y) for _, y in weights_part.as_numpy_iterator()}
    iterator = iter(ds)  # one long-lived iterator, as Keras fit keeps
    steps = [next(iterator) for _ in range(9)]  # 3 passes over each 24-example part
    seen_train = []
    for (x_t, y_t), (x_v, y_v) in steps:
        assert x_t.shape == (batch, 8, 8, 3) and x_v.shape == (batch, 8, 8, 3)
        assert set(y_t.numpy()) <= weights_ids and not set(y_v.numpy()) & weights_ids
        np.testing.assert_array_equal(np.rint(x_t.numpy()[:, 0, 0, 0] * 255), y_t.numpy())
        seen_train.append(tuple(y_t.numpy()))
    # Successive steps differ, and each pass covers the weights part exactly once.
    assert all(a != b for a, b in zip(seen_train, seen_train[1:]))
    for start in (0, 3, 6):
        epoch = [i for step in seen_train[start : start + 3] for i in step]
        assert sorted(epoch) == sorted(weights_ids)
    assert seen_train[0:3] != seen_train[3:6]  # reshuffled each pass


def test_bilevel_dataset_is_reproducible():
    train, _ = data.load_splits("digits", image_size=8)
    make = lambda: data.make_bilevel_dataset(train, 16, dataset="digits", seed=5, cutout=4)
    (a, _), (b, _) = next(iter(make()))
    (c, _), (d, _) = next(iter(make()))
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    np.testing.assert_array_equal(b.numpy(), d.numpy())
    assert not np.array_equal(a.numpy(), b.numpy())


def test_steps_per_epoch():
    assert data.bilevel_steps_per_epoch(50000, 64) == 390
    assert data.split_sizes(1437, 0.5) == (718, 719)
    with pytest.raises(ValueError, match="batch_size"):
        data.bilevel_steps_per_epoch(100, 64)
