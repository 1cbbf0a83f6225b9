"""The AutoAugment family of image operations, batched and seeded, for `tf.data` and search steps.

Every op works on a batch of `float32` images in `[0, 255]` (`[B, H, W, C]`) with one
magnitude per image, so a whole batch is augmented by a few vectorised ops instead of a
Python loop over images. `apply_ops` is the grouped form the pipelines and searches use:
each image carries an op index; the batch is partitioned by op (`tf.dynamic_partition`),
each op runs once on its group with the group's magnitudes, and the results are stitched
back in the original order. Randomness (the sign of symmetric ops, cutout positions) comes
from an explicit stateless seed, so an augmented batch is a pure function of
(images, op indices, magnitudes, seed) and a run is reproducible under a seed.

Magnitudes are fractions `m` in `[0, 1]` of each op's maximum, i.e. the papers' level
`l` on the 0..10 scale divided by 10. Ranges (AutoAugment, arXiv 1805.09501, Table 6;
RandAugment, arXiv 1909.13719, uses the same ops and ranges):

| op | at magnitude m |
|---|---|
| ShearX / ShearY | shear `+-0.3 m` (random sign), about the image centre |
| TranslateX / TranslateY | `+-m * 150/331` of the image side (the paper's 150 px of 331) |
| Rotate | `+-30 m` degrees |
| Solarize | invert pixels `>= 256 (1 - m)` |
| Posterize | keep `8 - round(4 m)` bits (range 4..8 bits) |
| Contrast / Color / Brightness / Sharpness | PIL-style enhance factor `0.1 + 1.8 m` |
| Cutout | a square of side `m * 20/32` of the image (AutoAugment's CIFAR code: 20 px) |
| AutoContrast, Equalize, Invert, Identity | no magnitude |

DDAS (arXiv 2104.04282) adds FlipLR, FlipUD, Blur and Smooth (PIL's `BLUR` and `SMOOTH`
kernels), all without magnitude. Geometric ops fill exposed pixels with grey 128, as the
AutoAugment code does.

AutoContrast and Equalize are `keras.layers.AutoContrast` / `keras.layers.Equalization`
(deterministic layers); the ops with a per-image magnitude are written with `tf.image` and
`tf.raw_ops.ImageProjectiveTransformV3`, because Keras's random preprocessing layers draw
their own factors from a stateful `SeedGenerator` and cannot take a per-image magnitude
from a policy. This module is data-pipeline code, hence `tf.*` (not `keras.ops`).

Example:
>>> import tensorflow as tf
>>> x = tf.fill([4, 32, 32, 3], 100.0)
>>> y = apply_ops(x, tf.constant([0, 1, 2, 3]), tf.fill([4], 0.5), seed=(0, 1))
>>> y.shape
TensorShape([4, 32, 32, 3])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from tfnas.registry import Registry

SeedLike = tf.Tensor | Sequence[int]

#: Fill value of pixels exposed by geometric ops (AutoAugment's fillcolor).
FILL_VALUE = 128.0
SHEAR_MAX = 0.3
TRANSLATE_MAX = 150.0 / 331.0
ROTATE_MAX_DEGREES = 30.0
CUTOUT_MAX = 20.0 / 32.0
ENHANCE_MIN, ENHANCE_SPAN = 0.1, 1.8

OpFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class AugmentOp:
    """One augmentation op: name, batched function and whether it has a magnitude.

    Args:
        name: The op's name as the papers write it (`"ShearX"`, `"Equalize"`, ...).
        fn: `fn(images, magnitudes, seed) -> images`: float32 `[B, H, W, C]` in [0, 255],
            magnitudes `[B]` in [0, 1] (already signed for `signed` ops), a stateless seed.
        has_magnitude: False for ops the magnitude does not affect.
        signed: The magnitude gets a random sign per image (shear, translate, rotate).
    """

    name: str
    fn: OpFn
    has_magnitude: bool = True
    signed: bool = False


#: Op name -> `AugmentOp`; `OP_NAMES` fixes the order (op index i = `OP_NAMES[i]`).
AUGMENT_OPS: Registry[AugmentOp] = Registry("augmentation op")


def _register(name: str, has_magnitude: bool = True, signed: bool = False) -> Callable[[OpFn], OpFn]:
    def wrap(fn: OpFn) -> OpFn:
        AUGMENT_OPS.register(name, AugmentOp(name, fn, has_magnitude, signed))
        return fn

    return wrap


def _blend(a: tf.Tensor, b: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """PIL's `ImageEnhance`: `b + factor * (a - b)`, clipped to [0, 255]; `factor` `[B]`."""
    factor = tf.reshape(factor, [-1, 1, 1, 1])
    return tf.clip_by_value(b + factor * (a - b), 0.0, 255.0)


def _enhance_factor(magnitudes: tf.Tensor) -> tf.Tensor:
    return ENHANCE_MIN + ENHANCE_SPAN * magnitudes


def _grayscale(images: tf.Tensor) -> tf.Tensor:
    """ITU-R 601 luma (PIL's `convert("L")`), broadcast back to the channels."""
    gray = tf.image.rgb_to_grayscale(images) if images.shape[-1] == 3 else tf.reduce_mean(images, -1, keepdims=True)
    return tf.broadcast_to(gray, tf.shape(images))


def _projective(images: tf.Tensor, transforms: tf.Tensor) -> tf.Tensor:
    """Applies per-image projective `transforms` `[B, 8]` (output -> input), grey fill."""
    shape = tf.shape(images)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=shape[1:3],
        fill_value=tf.constant(FILL_VALUE, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def _affine(images: tf.Tensor, a0, a1, a2, b0, b1, b2) -> tf.Tensor:
    """Affine map `[x', y'] = [a0 x + a1 y + a2, b0 x + b1 y + b2]` (output -> input), each `[B]`."""
    zeros = tf.zeros_like(a0)
    return _projective(images, tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1))


def _centre(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.cast(tf.shape(images), tf.float32)
    return (shape[2] - 1.0) / 2.0, (shape[1] - 1.0) / 2.0


@_register("Identity", has_magnitude=False)
def identity(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Returns the images unchanged."""
    return images


@_register("ShearX", signed=True)
def shear_x(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shears along x by `0.3 * m` (signed) about the image centre."""
    k = SHEAR_MAX * magnitudes
    cx, cy = _centre(images)
    one, zero = tf.ones_like(k), tf.zeros_like(k)
    return _affine(images, one, k, -k * cy, zero, one, zero)


@_register("ShearY", signed=True)
def shear_y(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shears along y by `0.3 * m` (signed) about the image centre."""
    k = SHEAR_MAX * magnitudes
    cx, cy = _centre(images)
    one, zero = tf.ones_like(k), tf.zeros_like(k)
    return _affine(images, one, zero, zero, k, one, -k * cx)


@_register("TranslateX", signed=True)
def translate_x(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shifts along x by `m * 150/331` of the width (signed)."""
    width = tf.cast(tf.shape(images)[2], tf.float32)
    d = TRANSLATE_MAX * width * magnitudes
    one, zero = tf.ones_like(d), tf.zeros_like(d)
    return _affine(images, one, zero, -d, zero, one, zero)


@_register("TranslateY", signed=True)
def translate_y(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Shifts along y by `m * 150/331` of the height (signed)."""
    height = tf.cast(tf.shape(images)[1], tf.float32)
    d = TRANSLATE_MAX * height * magnitudes
    one, zero = tf.ones_like(d), tf.zeros_like(d)
    return _affine(images, one, zero, zero, zero, one, -d)


@_register("Rotate", signed=True)
def rotate(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Rotates by `30 * m` degrees (signed) about the image centre."""
    angle = magnitudes * (ROTATE_MAX_DEGREES * math.pi / 180.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    cx, cy = _centre(images)
    return _affine(images, cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy)


def _nonempty(fn: Callable[[], tf.Tensor], images: tf.Tensor) -> tf.Tensor:
    """`fn()` for a non-empty batch, `images` for an empty one (the Keras layers refuse empty batches)."""
    return tf.cond(tf.shape(images)[0] > 0, fn, lambda: images)


_AUTOCONTRAST = keras.layers.AutoContrast(value_range=(0, 255), name="augment_autocontrast")
_EQUALIZE = keras.layers.Equalization(value_range=(0, 255), name="augment_equalize")


@_register("AutoContrast", has_magnitude=False)
def auto_contrast(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Stretches each channel to the full [0, 255] range (`keras.layers.AutoContrast`)."""
    return _nonempty(lambda: tf.cast(_AUTOCONTRAST(images, training=True), tf.float32), images)


@_register("Equalize", has_magnitude=False)
def equalize(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Equalizes each channel's histogram (`keras.layers.Equalization`)."""
    return _nonempty(lambda: tf.cast(_EQUALIZE(tf.round(images), training=True), tf.float32), images)


@_register("Invert", has_magnitude=False)
def invert(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Returns `255 - x`."""
    return 255.0 - images


@_register("Solarize")
def solarize(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Inverts the pixels at or above the threshold `256 * (1 - m)`."""
    threshold = tf.reshape(256.0 * (1.0 - magnitudes), [-1, 1, 1, 1])
    return tf.where(images >= threshold, 255.0 - images, images)


@_register("Posterize")
def posterize(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Keeps the `8 - round(4 m)` most significant bits of every pixel."""
    shift = tf.reshape(tf.round(4.0 * magnitudes), [-1, 1, 1, 1])
    step = tf.pow(2.0, shift)
    return tf.floor(tf.floor(images) / step) * step


@_register("Contrast")
def contrast(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Blends with the image's mean grey level by factor `0.1 + 1.8 m` (PIL `Contrast`)."""
    mean = tf.reduce_mean(_grayscale(images)[..., :1], axis=[1, 2, 3], keepdims=True)
    return _blend(images, tf.broadcast_to(mean, tf.shape(images)), _enhance_factor(magnitudes))


@_register("Color")
def color(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Blends with the grayscale image by factor `0.1 + 1.8 m` (PIL `Color`, saturation)."""
    return _blend(images, _grayscale(images), _enhance_factor(magnitudes))


@_register("Brightness")
def brightness(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Blends with black by factor `0.1 + 1.8 m` (PIL `Brightness`)."""
    return _blend(images, tf.zeros_like(images), _enhance_factor(magnitudes))


def _filter(images: tf.Tensor, kernel: Sequence[Sequence[float]]) -> tf.Tensor:
    """Per-channel convolution with a normalised `kernel`, borders kept (as PIL's filters)."""
    k = tf.constant(kernel, tf.float32)
    k = k / tf.reduce_sum(k)
    size = int(k.shape[0])
    channels = images.shape[-1] or 3
    depthwise = tf.tile(k[:, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
    # SAME padding: the interior equals a VALID filter, and the border is replaced below. (A VALID
    # depthwise convolution of an empty batch returns the input's spatial shape in TF 2.21.)
    interior = tf.nn.depthwise_conv2d(images, depthwise, strides=[1, 1, 1, 1], padding="SAME")
    border = size // 2
    shape = tf.shape(images)
    rows = tf.range(shape[1])[:, tf.newaxis]
    cols = tf.range(shape[2])[tf.newaxis, :]
    inside = (rows >= border) & (rows < shape[1] - border) & (cols >= border) & (cols < shape[2] - border)
    return tf.where(inside[tf.newaxis, :, :, tf.newaxis], interior, images)


_SMOOTH_KERNEL = ((1, 1, 1), (1, 5, 1), (1, 1, 1))
_BLUR_KERNEL = ((1, 1, 1, 1, 1), (1, 0, 0, 0, 1), (1, 0, 0, 0, 1), (1, 0, 0, 0, 1), (1, 1, 1, 1, 1))


@_register("Sharpness")
def sharpness(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Blends with the smoothed image by factor `0.1 + 1.8 m` (PIL `Sharpness`)."""
    return _blend(images, _filter(images, _SMOOTH_KERNEL), _enhance_factor(magnitudes))


@_register("Cutout")
def cutout(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Fills a square of side `m * 20/32` of the image, at a uniform centre, with grey 128."""
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    side = tf.round(CUTOUT_MAX * tf.cast(tf.minimum(height, width), tf.float32) * magnitudes)
    half = tf.cast(side // 2, tf.int32)[:, tf.newaxis, tf.newaxis]
    odd = tf.cast(side, tf.int32)[:, tf.newaxis, tf.newaxis] - 2 * half
    seed_y, seed_x = tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 2))
    cy = tf.random.stateless_uniform([batch], seed_y, 0, height, dtype=tf.int32)[:, tf.newaxis, tf.newaxis]
    cx = tf.random.stateless_uniform([batch], seed_x, 0, width, dtype=tf.int32)[:, tf.newaxis, tf.newaxis]
    rows = tf.range(height)[tf.newaxis, :, tf.newaxis]
    cols = tf.range(width)[tf.newaxis, tf.newaxis, :]
    inside = (rows >= cy - half) & (rows < cy + half + odd) & (cols >= cx - half) & (cols < cx + half + odd)
    return tf.where(inside[..., tf.newaxis], FILL_VALUE, images)


@_register("FlipLR", has_magnitude=False)
def flip_lr(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirrors left-right."""
    return tf.reverse(images, axis=[2])


@_register("FlipUD", has_magnitude=False)
def flip_ud(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Mirrors top-bottom."""
    return tf.reverse(images, axis=[1])


@_register("Blur", has_magnitude=False)
def blur(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """PIL's `ImageFilter.BLUR` (5x5 ring kernel)."""
    return _filter(images, _BLUR_KERNEL)


@_register("Smooth", has_magnitude=False)
def smooth(images: tf.Tensor, magnitudes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """PIL's `ImageFilter.SMOOTH` (3x3 kernel, centre weight 5)."""
    return _filter(images, _SMOOTH_KERNEL)


#: Every op in index order; op index i is `OP_NAMES[i]` (Identity is index 0).
OP_NAMES: tuple[str, ...] = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert",
    "Equalize", "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness", "Cutout",
    "FlipLR", "FlipUD", "Blur", "Smooth",
)
#: The AutoAugment op set of the issue (AutoAugment's 16 ops minus SamplePairing, plus Identity).
AUTOAUGMENT_OPS: tuple[str, ...] = OP_NAMES[:16]
#: RandAugment's and TrivialAugment's 14 ops, in the order of RandAugment's paper (arXiv
#: 1909.13719, section 3). The authors' TPU code draws from a different set of 16 (no Identity; Invert,
#: Cutout, SolarizeAdd): see `tfnas.data.policies` for the sources and why the paper's are kept.
RANDAUGMENT_OPS: tuple[str, ...] = (
    "Identity", "AutoContrast", "Equalize", "Rotate", "Solarize", "Color", "Posterize", "Contrast",
    "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
)


def op_index(name: str) -> int:
    """Returns the index of op `name` in `OP_NAMES`.

    Raises:
        ValueError: for an unknown op, listing the known ones.

    Example:
    >>> op_index("Rotate")
    5
    """
    if name not in OP_NAMES:
        raise ValueError(f"Unknown augmentation op {name!r}. Known ops: {', '.join(OP_NAMES)}.")
    return OP_NAMES.index(name)


def _check_images(images: tf.Tensor) -> tf.Tensor:
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"images must have rank 4 [B, H, W, C]. Received: images.shape={images.shape}")
    return tf.cast(images, tf.float32)


def apply_ops(
    images: tf.Tensor,
    op_indices: tf.Tensor,
    magnitudes: tf.Tensor,
    seed: SeedLike,
) -> tf.Tensor:
    """Applies op `OP_NAMES[op_indices[i]]` with magnitude `magnitudes[i]` to image i, grouped by op.

    The batch is partitioned by op index, each op runs once on its group (vectorised over
    the group), and the results are stitched back in the input order. Symmetric ops
    (shear, translate, rotate) get a random sign per image drawn from `seed`.

    References:
        Cubuk et al., AutoAugment, arXiv 1805.09501 (ops and ranges);
        Liu et al., DDAS, arXiv 2104.04282 (FlipLR, FlipUD, Blur, Smooth).

    Args:
        images: `[B, H, W, C]` images in [0, 255] (uint8 or float).
        op_indices: `[B]` int op indices into `OP_NAMES`.
        magnitudes: `[B]` magnitudes in [0, 1] (level / 10).
        seed: Stateless seed, int tensor or pair of shape `[2]`.

    Returns:
        `float32` `[B, H, W, C]` augmented images in [0, 255].

    Raises:
        ValueError: if `images` is not rank 4.

    Example:
    >>> x = tf.zeros([2, 8, 8, 3])
    >>> float(apply_ops(x, tf.constant([7, 0]), tf.zeros([2]), (0, 0))[0, 0, 0, 0])
    255.0
    """
    images = _check_images(images)
    op_indices = tf.reshape(tf.cast(op_indices, tf.int32), [-1])
    magnitudes = tf.clip_by_value(tf.reshape(tf.cast(magnitudes, tf.float32), [-1]), 0.0, 1.0)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, num=len(OP_NAMES) + 1)
    signs = tf.where(tf.random.stateless_uniform(tf.shape(magnitudes), seeds[0]) < 0.5, -1.0, 1.0)
    batch = tf.shape(images)[0]
    num = len(OP_NAMES)
    # Out-of-range indices would be silently dropped by dynamic_partition: clip them.
    op_indices = tf.clip_by_value(op_indices, 0, num - 1)
    image_parts = tf.dynamic_partition(images, op_indices, num)
    magnitude_parts = tf.dynamic_partition(magnitudes, op_indices, num)
    sign_parts = tf.dynamic_partition(signs, op_indices, num)
    index_parts = tf.dynamic_partition(tf.range(batch), op_indices, num)
    outputs = []
    for i, name in enumerate(OP_NAMES):
        op = AUGMENT_OPS.get(name)
        m = magnitude_parts[i] * sign_parts[i] if op.signed else magnitude_parts[i]
        outputs.append(tf.clip_by_value(op.fn(image_parts[i], m, seeds[i + 1]), 0.0, 255.0))
    out = tf.dynamic_stitch(index_parts, outputs)
    return tf.ensure_shape(tf.reshape(out, tf.shape(images)), images.shape)


def apply_op_slots(
    images: tf.Tensor, op_indices: tf.Tensor, magnitudes: tf.Tensor, seed: SeedLike
) -> tf.Tensor:
    """Applies a sequence of ops per image: slot 0 first, then slot 1, ...

    Args:
        images: `[B, H, W, C]` images in [0, 255].
        op_indices: `[B, S]` int op indices (Identity = 0 for a skipped slot).
        magnitudes: `[B, S]` magnitudes in [0, 1].
        seed: Stateless seed.

    Returns:
        `float32` augmented images in [0, 255].

    Raises:
        ValueError: if `op_indices` is not rank 2 with a static number of slots.

    Example:
    >>> x = tf.zeros([2, 8, 8, 3])
    >>> apply_op_slots(x, tf.constant([[7, 7], [0, 7]]), tf.zeros([2, 2]), (0, 0)).shape
    TensorShape([2, 8, 8, 3])
    """
    op_indices = tf.convert_to_tensor(op_indices)
    if op_indices.shape.rank != 2 or op_indices.shape[1] is None:
        raise ValueError(f"op_indices must be [B, slots] with static slots. Received: shape={op_indices.shape}")
    slots = int(op_indices.shape[1])
    seeds = tf.random.experimental.stateless_split(tf.cast(tf.convert_to_tensor(seed), tf.int64), num=max(slots, 1))
    out = _check_images(images)
    magnitudes = tf.convert_to_tensor(magnitudes)
    for s in range(slots):
        out = apply_ops(out, op_indices[:, s], magnitudes[:, s], seeds[s])
    return out
