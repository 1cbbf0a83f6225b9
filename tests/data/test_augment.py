"""Tests for tfnas.data.augment and the train/eval pipelines of tfnas.data.pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas import data


def _images(batch=8, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return tf.constant(rng.integers(1, 256, size=(batch, size, size, 3), dtype=np.uint8))


def test_random_crop_keeps_shape_and_is_a_padded_shift():
    x = _images()
    y = data.random_crop(x, seed=(1, 2), padding=4)
    assert y.shape == x.shape and y.dtype == x.dtype
    padded = np.pad(x.numpy(), [(0, 0), (4, 4), (4, 4), (0, 0)])
    offsets = set()
    for i in range(x.shape[0]):
        matches = [
            (oy, ox)
            for oy in range(9)
            for ox in range(9)
            if np.array_equal(padded[i, oy : oy + 32, ox : ox + 32], y[i].numpy())
        ]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 1  # a different draw per image


def test_random_crop_single_image():
    x = _images(batch=1)[0]
    assert data.random_crop(x, seed=(0, 0)).shape == (32, 32, 3)


def test_random_flip_mirrors_or_keeps_each_image():
    x = _images(batch=32)
    y = data.random_flip_left_right(x, seed=(3, 4)).numpy()
    flipped = [np.array_equal(y[i], x.numpy()[i, :, ::-1]) for i in range(32)]
    kept = [np.array_equal(y[i], x.numpy()[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


@pytest.mark.parametrize(
    "center, rows, cols",
    [((0, 0), (0, 8), (0, 8)), ((16, 16), (8, 24), (8, 24)), ((31, 20), (23, 32), (12, 28))],
)
def test_cutout_mask_is_a_clipped_square(center, rows, cols):
    mask = data.cutout_mask(32, 32, tf.constant([center[0]]), tf.constant([center[1]]), size=16).numpy()[0]
    expected = np.ones((32, 32), np.float32)
    expected[rows[0] : rows[1], cols[0] : cols[1]] = 0.0
    np.testing.assert_array_equal(mask, expected)


def test_cutout_zeroes_exactly_one_clipped_square_per_image():
    x = tf.ones([64, 32, 32, 3])
    y = data.cutout(x, seed=(5, 6), size=16).numpy()
    for image in y:
        zero = image == 0.0
        assert np.array_equal(zero[..., 0], zero[..., 1]) and np.array_equal(zero[..., 0], zero[..., 2])
        rows = np.flatnonzero(zero[..., 0].any(axis=1))
        cols = np.flatnonzero(zero[..., 0].any(axis=0))
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        assert zero[r0:r1, c0:c1, 0].all() and zero[..., 0].sum() == (r1 - r0) * (c1 - c0)
        for lo, hi in ((r0, r1), (c0, c1)):
            assert 8 <= hi - lo <= 16
            assert hi - lo == 16 or lo == 0 or hi == 32  # shorter only where clipped
    assert (y == 1.0).any()


def test_same_seed_same_output_different_seed_different():
    x = _images(batch=16)
    kwargs = dict(mean=data.CIFAR10_MEAN, std=data.CIFAR10_STD)
    a = data.cifar_augment(x, (7, 8), **kwargs)
    b = data.cifar_augment(x, (7, 8), **kwargs)
    c = data.cifar_augment(x, (7, 9), **kwargs)
    assert a.dtype == tf.float32 and a.shape == x.shape
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())


def test_normalize():
    x = tf.constant([[[0, 255, 128]]], tf.uint8)
    y = data.normalize(x, (0.5, 0.5, 0.5), (0.5, 0.25, 0.5)).numpy()
    np.testing.assert_allclose(y[0, 0], [-1.0, 2.0, (128 / 255 - 0.5) / 0.5], atol=1e-6)
    with pytest.raises(ValueError, match="std"):
        data.normalize(x, (0.5,) * 3, (0.0, 1.0, 1.0))


def test_dataset_defaults():
    assert data.resolve_stats("digits") == (data.DIGITS_MEAN, data.DIGITS_STD)
    assert data.resolve_stats("digits", ((0.0,), (1.0,))) == ((0.0,), (1.0,))
    assert data.resolve_flip("cifar10") and not data.resolve_flip("digits")
    assert data.resolve_flip("digits", True)
    with pytest.raises(KeyError, match="mnist"):
        data.make_eval_dataset(tf.data.Dataset.range(3), 2, dataset="mnist")


def _digits_train():
    train, _ = data.load_splits("digits")
    return train


def test_make_train_dataset_is_reproducible_and_reshuffles():
    train = _digits_train()
    make = lambda seed: data.make_train_dataset(train, 64, dataset="digits", seed=seed)
    first = [x.numpy() for x, _ in make(1).take(2)]
    again = [x.numpy() for x, _ in make(1).take(2)]
    other = [x.numpy() for x, _ in make(2).take(2)]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    ds = make(1)
    epoch1 = np.concatenate([y.numpy() for _, y in ds])
    epoch2 = np.concatenate([y.numpy() for _, y in ds])
    assert len(epoch1) == 1437 // 64 * 64  # drop_remainder
    assert not np.array_equal(epoch1, epoch2)  # reshuffled every pass


def test_make_train_dataset_shapes_and_cutout_in_normalized_space():
    train = _digits_train()
    ds = data.make_train_dataset(train, 32, dataset="digits", padding=0, flip=False, cutout=16, seed=0)
    x, y = next(iter(ds))
    assert x.shape == (32, 32, 32, 3) and x.dtype == tf.float32 and y.shape == (32,)
    # Every image holds an exact-zero square (cutout after normalization).
    assert all((x.numpy()[i, ..., 0] == 0.0).sum() >= 64 for i in range(32))


def test_make_eval_dataset_keeps_order_and_remainder():
    _, test = data.load_splits("digits")
    ds = data.make_eval_dataset(test, 100, stats=((0.0,) * 3, (1.0,) * 3))
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    assert [len(y) for y in ys] == [100, 100, 100, 60]
    raw = np.stack([x for x, _ in test.as_numpy_iterator()])
    np.testing.assert_allclose(np.concatenate(xs), raw / 255.0, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"batch_size": 0}, "batch_size"), ({"cutout": -1}, "cutout"), ({"stats": (1, 2, 3)}, "stats"),
     ({"stats": ((0.5,) * 3, (0.5,) * 2)}, "stats")],
)
def test_make_train_dataset_rejects_bad_arguments(kwargs, name):
    args = {"batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=name):
        data.make_train_dataset(tf.data.Dataset.from_tensor_slices((_images(), tf.zeros([8], tf.int64))), **args)
