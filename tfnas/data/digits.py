"""scikit-learn's bundled 8x8 handwritten digits as a small real image dataset.

1,797 grayscale 8x8 images (values 0..16) ship inside scikit-learn, so this dataset needs
no download: it is the embedded default for the quickstart and for fast tests. The images
are rescaled to 0..255, resized (bilinear) to `image_size` x `image_size`, repeated to 3
channels, and split into train/test by a seeded permutation, so the elements have the same
structure as CIFAR-10's: `(uint8 [H, W, 3], int64 label)`.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from tfnas.data.catalog import DatasetSpec, register_dataset

#: Digit class names in label-id order.
DIGITS_CLASS_NAMES: tuple[str, ...] = tuple(str(i) for i in range(10))
#: Per-channel mean / std (0..1 scale) of the training split at the default settings
#: (32x32, seed 0); the three channels are copies of one gray channel.
DIGITS_MEAN: tuple[float, float, float] = (0.3049, 0.3049, 0.3049)
DIGITS_STD: tuple[float, float, float] = (0.3235, 0.3235, 0.3235)
_NUM_EXAMPLES = 1797


def load_digits_arrays(
    image_size: int = 32, test_fraction: float = 0.2, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Returns the digits as NumPy arrays, resized and split.

    Args:
        image_size: Side of the square output images (8 keeps the original resolution).
        test_fraction: Fraction of the 1,797 images held out for the test split
            (rounded up: 0.2 gives 360 test and 1,437 train images).
        seed: Seed of the permutation that assigns images to the splits.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: images `uint8` `[N, image_size,
        image_size, 3]`, labels `int64` `[N]`.

    Raises:
        ValueError: if `image_size` < 1 or `test_fraction` is not in (0, 1).

    Example:
    >>> (x, y), (xt, yt) = load_digits_arrays()
    >>> x.shape, xt.shape
    ((1437, 32, 32, 3), (360, 32, 32, 3))
    """
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int. Received: image_size={image_size!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1). Received: test_fraction={test_fraction!r}")
    from sklearn.datasets import load_digits  # Imported here: scikit-learn is slow to import.

    bunch = load_digits()
    images = bunch.images.astype(np.float32) * (255.0 / 16.0)  # [N, 8, 8], 0..255
    labels = bunch.target.astype(np.int64)
    if image_size != 8:
        resized = tf.image.resize(images[..., None], (image_size, image_size), method="bilinear")
        images = resized.numpy()[..., 0]
    images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    images = np.repeat(images[..., None], 3, axis=-1)

    num_test = math.ceil(len(labels) * test_fraction)
    order = np.random.default_rng(seed).permutation(len(labels))
    test_idx, train_idx = np.sort(order[:num_test]), np.sort(order[num_test:])
    return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])


def load_digits_splits(
    data_dir: str | None = None, image_size: int = 32, test_fraction: float = 0.2, seed: int = 0
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Returns the digits train and test splits as `tf.data.Dataset`s.

    Args:
        data_dir: Ignored (the data ships with scikit-learn); accepted so every loader
            has the same signature.
        image_size: Side of the square output images.
        test_fraction: Fraction held out for the test split (rounded up).
        seed: Seed of the train/test permutation.

    Returns:
        `(train_ds, test_ds)` of `(image uint8 [image_size, image_size, 3], label int64)`.

    Raises:
        ValueError: on an invalid `image_size` or `test_fraction`.

    Example:
    >>> train, test = load_digits_splits(image_size=16)
    >>> train.element_spec[0].shape
    TensorShape([16, 16, 3])
    """
    del data_dir
    (x_train, y_train), (x_test, y_test) = load_digits_arrays(image_size, test_fraction, seed)
    return (
        tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        tf.data.Dataset.from_tensor_slices((x_test, y_test)),
    )


DIGITS = register_dataset(
    DatasetSpec(
        name="digits",
        load=load_digits_splits,
        image_shape=(32, 32, 3),
        num_classes=10,
        class_names=DIGITS_CLASS_NAMES,
        mean=DIGITS_MEAN,
        std=DIGITS_STD,
        num_train=_NUM_EXAMPLES - math.ceil(_NUM_EXAMPLES * 0.2),
        num_test=math.ceil(_NUM_EXAMPLES * 0.2),
        horizontal_flip=False,
    )
)
