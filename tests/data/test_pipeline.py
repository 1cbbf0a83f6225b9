"""`tfnas.data.pipeline.normalized_arrays`: the in-memory rating and test sets."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.data.pipeline import normalized_arrays, resolve_stats


def test_normalized_arrays_normalise_as_the_training_pipeline():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 4, 3)).astype(np.uint8)
    labels = np.array([0, 3, 1, 2, 9], np.int32)
    x, y = normalized_arrays(tf.data.Dataset.from_tensor_slices((images, labels)), "cifar10")
    mean, std = resolve_stats("cifar10")
    np.testing.assert_allclose(x, (images / 255.0 - np.array(mean)) / np.array(std), rtol=1e-6, atol=1e-6)
    assert x.dtype == np.float32 and y.dtype == np.int64 and y.tolist() == labels.tolist()


def test_an_empty_dataset_is_refused():
    empty = tf.data.Dataset.from_tensor_slices((np.zeros((0, 4, 4, 3), np.uint8), np.zeros(0, np.int32)))
    with pytest.raises(ValueError, match="empty dataset"):
        normalized_arrays(empty, "cifar10")
