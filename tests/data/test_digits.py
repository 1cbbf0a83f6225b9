"""Tests for tfnas.data.digits: scikit-learn's 8x8 digits, resized and split by seed."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas import data


def test_shapes_sizes_and_labels():
    (x, y), (xt, yt) = data.load_digits_arrays()
    assert x.shape == (1437, 32, 32, 3) and xt.shape == (360, 32, 32, 3)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10)) and set(np.unique(yt)) == set(range(10))
    np.testing.assert_array_equal(x[..., 0], x[..., 2])  # gray repeated to 3 channels
    assert x.max() == 255 and x.min() == 0


def test_original_resolution_matches_sklearn():
    from sklearn.datasets import load_digits

    (x, y), (xt, yt) = data.load_digits_arrays(image_size=8)
    bunch = load_digits()
    all_x = np.concatenate([x, xt])[..., 0].astype(np.float64)
    all_y = np.concatenate([y, yt])
    expected = np.rint(bunch.images * 255.0 / 16.0)
    # Same multiset of (image, label) pairs: compare after a canonical sort.
    key = lambda imgs, labels: sorted(zip(labels.tolist(), [im.tobytes() for im in imgs.astype(np.uint8)]))
    assert key(all_x, all_y) == key(expected, bunch.target)


def test_split_is_deterministic_by_seed():
    (a, ya), _ = data.load_digits_arrays(seed=3)
    (b, yb), _ = data.load_digits_arrays(seed=3)
    (c, yc), _ = data.load_digits_arrays(seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)


def test_load_splits_element_structure_matches_cifar():
    train, test = data.load_splits("digits", image_size=16)
    assert int(train.cardinality()) == 1437 and int(test.cardinality()) == 360
    image_spec, label_spec = train.element_spec
    assert image_spec.shape == (16, 16, 3) and image_spec.dtype == tf.uint8
    assert label_spec.shape == () and label_spec.dtype == tf.int64


@pytest.mark.parametrize("kwargs, name", [({"image_size": 0}, "image_size"), ({"test_fraction": 1.0}, "test_fraction")])
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        data.load_digits_arrays(**kwargs)


def test_registry():
    assert {"cifar10", "digits"} <= set(data.DATASETS.names())
    spec = data.get_dataset_spec("digits")
    assert spec.num_train == 1437 and spec.num_test == 360 and spec.num_classes == 10
    with pytest.raises(KeyError, match="imagenet"):
        data.load_splits("imagenet")
    with pytest.raises(ValueError, match="already registered"):
        data.register_dataset(spec)
