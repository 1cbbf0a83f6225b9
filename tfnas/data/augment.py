"""Standard CIFAR augmentation on batches: pad-and-crop, horizontal flip, normalize, cutout.

The DARTS training recipe (arXiv 1806.09055, following its PyTorch code): random 32x32 crop
of the image zero-padded by 4 pixels, random horizontal flip, normalization by the dataset's
per-channel mean/std, then cutout (arXiv 1708.04552): a 16x16 square, centered at a uniformly
drawn pixel and clipped at the image borders, set to zero in the normalized image.

Every op is stateless: it takes an explicit `seed` (int tensor of shape `[2]`), so a batch's
augmentation is a pure function of (images, seed) and a run is reproducible under a seed.
The ops work on whole batches `[B, H, W, C]` with a different draw per image (vectorized:
one gather per axis instead of B small crops), which is what makes the pipeline fast on CPU.
A single image `[H, W, C]` is accepted too and treated as a batch of one.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

SeedLike = tf.Tensor | Sequence[int]


def _as_batch(images: tf.Tensor) -> tuple[tf.Tensor, bool]:
    images = tf.convert_to_tensor(images)
    if images.shape.rank == 3:
        return images[tf.newaxis], True
    if images.shape.rank != 4:
        raise ValueError(
            f"images must have rank 3 [H, W, C] or 4 [B, H, W, C]. Received: images.shape={images.shape}"
        )
    return images, False


def _unbatch(images: tf.Tensor, single: bool) -> tf.Tensor:
    return images[0] if single else images


def _seeds(seed: SeedLike, num: int) -> tf.Tensor:
    return tf.random.experimental.stateless_split(tf.cast(tf.convert_to_tensor(seed), tf.int64), num=num)


def random_crop(images: tf.Tensor, seed: SeedLike, padding: int = 4) -> tf.Tensor:
    """Zero-pads each image by `padding` pixels and crops it back to its size at a random offset.

    Args:
        images: `[B, H, W, C]` (or `[H, W, C]`) images of any dtype.
        seed: Stateless seed, int tensor or pair of shape `[2]`.
        padding: Pixels of zero padding on every side (torchvision's `RandomCrop(padding=4)`).

    Returns:
        Images of the input shape and dtype; each image shifted by an offset drawn
        uniformly from `[-padding, padding]` per axis, zeros filling the exposed border.

    Raises:
        ValueError: if `padding` is negative or `images` is not rank 3 or 4.

    Example:
    >>> x = tf.ones([2, 32, 32, 3], tf.uint8)
    >>> random_crop(x, seed=(0, 1)).shape
    TensorShape([2, 32, 32, 3])
    """
    if padding < 0:
        raise ValueError(f"padding must be >= 0. Received: padding={padding}")
    images, single = _as_batch(images)
    if padding == 0:
        return _unbatch(images, single)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    seed_y, seed_x = tf.unstack(_seeds(seed, 2))
    off_y = tf.random.stateless_uniform([batch], seed_y, 0, 2 * padding + 1, dtype=tf.int32)
    off_x = tf.random.stateless_uniform([batch], seed_x, 0, 2 * padding + 1, dtype=tf.int32)
    rows = off_y[:, tf.newaxis] + tf.range(height)[tf.newaxis, :]  # [B, H]
    cols = off_x[:, tf.newaxis] + tf.range(width)[tf.newaxis, :]  # [B, W]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2p, C]
    out = tf.gather(out, cols, axis=2, batch_dims=1)  # [B, H, W, C]
    out = tf.ensure_shape(out, images.shape)
    return _unbatch(out, single)


def random_flip_left_right(images: tf.Tensor, seed: SeedLike) -> tf.Tensor:
    """Mirrors each image horizontally with probability 1/2.

    Args:
        images: `[B, H, W, C]` (or `[H, W, C]`) images.
        seed: Stateless seed, int tensor or pair of shape `[2]`.

    Returns:
        Images of the input shape and dtype.

    Example:
    >>> x = tf.reshape(tf.range(12), [1, 2, 2, 3])
    >>> random_flip_left_right(x, seed=(0, 0)).shape
    TensorShape([1, 2, 2, 3])
    """
    images, single = _as_batch(images)
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], _seeds(seed, 1)[0]) < 0.5
    out = tf.where(flip[:, tf.newaxis, tf.newaxis, tf.newaxis], tf.reverse(images, axis=[2]), images)
    return _unbatch(out, single)


def normalize(images: tf.Tensor, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """Scales uint8 images to [0, 1] and standardizes each channel: `(x / 255 - mean) / std`.

    Args:
        images: `uint8` (0..255) or float (already 0..1) images, channels last.
        mean: Per-channel mean on the [0, 1] scale.
        std: Per-channel standard deviation on the [0, 1] scale (all > 0).

    Returns:
        `float32` images of the input shape.

    Raises:
        ValueError: if a `std` entry is not positive, or `mean`/`std` lengths differ.

    Example:
    >>> normalize(tf.fill([1, 1, 3], tf.constant(255, tf.uint8)), (0.5,) * 3, (0.5,) * 3)[0, 0]
    <tf.Tensor: shape=(3,), dtype=float32, numpy=array([1., 1., 1.], dtype=float32)>
    """
    if len(mean) != len(std):
        raise ValueError(f"mean and std must have the same length. Received: mean={mean}, std={std}")
    if any(s <= 0 for s in std):
        raise ValueError(f"std entries must be > 0. Received: std={std}")
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        images = tf.cast(images, tf.float32) / 255.0
    else:
        images = tf.cast(images, tf.float32)
    return (images - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)


def cutout_mask(
    height: int | tf.Tensor, width: int | tf.Tensor, center_y: tf.Tensor, center_x: tf.Tensor, size: int
) -> tf.Tensor:
    """Returns the cutout keep-masks for given square centers.

    The square spans rows `[cy - size // 2, cy + size // 2)` and the same for columns,
    clipped to the image (as in the cutout and DARTS reference code).

    Args:
        height: Image height.
        width: Image width.
        center_y: `[B]` int32 row of each square's center.
        center_x: `[B]` int32 column of each square's center.
        size: Side of the square.

    Returns:
        `[B, height, width]` float32 masks: 0 inside the (clipped) square, 1 elsewhere.

    Example:
    >>> m = cutout_mask(4, 4, tf.constant([0]), tf.constant([0]), size=2)
    >>> int(tf.reduce_sum(1 - m))
    1
    """
    center_y = tf.convert_to_tensor(center_y, tf.int32)[:, tf.newaxis, tf.newaxis]
    center_x = tf.convert_to_tensor(center_x, tf.int32)[:, tf.newaxis, tf.newaxis]
    half = size // 2
    rows = tf.range(height)[tf.newaxis, :, tf.newaxis]
    cols = tf.range(width)[tf.newaxis, tf.newaxis, :]
    inside = (
        (rows >= center_y - half) & (rows < center_y + half) & (cols >= center_x - half) & (cols < center_x + half)
    )
    return 1.0 - tf.cast(inside, tf.float32)


def cutout(images: tf.Tensor, seed: SeedLike, size: int = 16) -> tf.Tensor:
    """Zeroes one `size` x `size` square per image, centered uniformly in the image.

    Apply after `normalize` (as the DARTS recipe does) so the square is 0 in normalized space.

    References:
        DeVries & Taylor, Improved Regularization of Convolutional Neural Networks with
        Cutout, arXiv 1708.04552.

    Args:
        images: `[B, H, W, C]` (or `[H, W, C]`) float images.
        seed: Stateless seed, int tensor or pair of shape `[2]`.
        size: Side of the square; 0 disables cutout.

    Returns:
        Images of the input shape and dtype with the (border-clipped) square set to 0.

    Raises:
        ValueError: if `size` is negative.

    Example:
    >>> x = tf.ones([2, 32, 32, 3])
    >>> y = cutout(x, seed=(0, 2), size=16)
    >>> bool(tf.reduce_all(tf.reduce_sum(1 - y[..., 0], axis=[1, 2]) <= 256))
    True
    """
    if size < 0:
        raise ValueError(f"size must be >= 0. Received: size={size}")
    images, single = _as_batch(images)
    if size == 0:
        return _unbatch(images, single)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    seed_y, seed_x = tf.unstack(_seeds(seed, 2))
    center_y = tf.random.stateless_uniform([batch], seed_y, 0, height, dtype=tf.int32)
    center_x = tf.random.stateless_uniform([batch], seed_x, 0, width, dtype=tf.int32)
    mask = cutout_mask(height, width, center_y, center_x, size)
    out = images * tf.cast(mask, images.dtype)[..., tf.newaxis]
    return _unbatch(out, single)


def cifar_augment(
    images: tf.Tensor,
    seed: SeedLike,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    padding: int = 4,
    flip: bool = True,
    cutout_size: int = 16,
) -> tf.Tensor:
    """The DARTS CIFAR training transform: crop, flip, normalize, cutout.

    References:
        Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055;
        DeVries & Taylor, cutout, arXiv 1708.04552.

    Args:
        images: `uint8` `[B, H, W, C]` (or `[H, W, C]`) images.
        seed: Stateless seed, int tensor or pair of shape `[2]`.
        mean: Per-channel mean on the [0, 1] scale.
        std: Per-channel standard deviation on the [0, 1] scale.
        padding: Zero padding of the random crop (0 disables the crop).
        flip: Whether to apply the random horizontal flip.
        cutout_size: Side of the cutout square (0 disables cutout).

    Returns:
        `float32` normalized, augmented images of the input shape.

    Example:
    >>> x = tf.zeros([8, 32, 32, 3], tf.uint8)
    >>> cifar_augment(x, (0, 0), mean=(0.5,) * 3, std=(0.25,) * 3).dtype
    tf.float32
    """
    crop_seed, flip_seed, cutout_seed = tf.unstack(_seeds(seed, 3))
    images = random_crop(images, crop_seed, padding)
    if flip:
        images = random_flip_left_right(images, flip_seed)
    images = normalize(images, mean, std)
    return cutout(images, cutout_seed, cutout_size)
