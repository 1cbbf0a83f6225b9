"""Tests of the batched, seeded augmentation ops (tfnas.ops.augment_ops)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.ops import augment_ops as A


def _images(batch: int = 6, size: int = 16, seed: int = 0) -> tf.Tensor:
    rng = np.random.default_rng(seed)
    return tf.constant(rng.integers(0, 256, size=(batch, size, size, 3)).astype("float32"))


def _one(name: str, images: tf.Tensor, magnitude: float, seed=(1, 2)) -> np.ndarray:
    n = images.shape[0]
    return A.apply_ops(images, tf.fill([n], A.op_index(name)), tf.fill([n], magnitude), seed).numpy()


def test_op_table_covers_the_autoaugment_set():
    expected = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "AutoContrast", "Invert", "Equalize",
                "Solarize", "Posterize", "Contrast", "Color", "Brightness", "Sharpness", "Cutout", "Identity"}
    assert set(A.AUTOAUGMENT_OPS) == expected
    assert set(A.OP_NAMES) == set(A.AUGMENT_OPS.names())
    assert A.OP_NAMES[0] == "Identity"


@pytest.mark.parametrize("name", A.OP_NAMES)
def test_every_op_keeps_shape_and_range(name):
    x = _images()
    y = _one(name, x, 0.8)
    assert y.shape == x.shape and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 255.0
    if name != "Identity":
        assert np.abs(y - x.numpy()).max() > 0, f"{name} left the images unchanged at magnitude 0.8"


def test_magnitude_zero_is_identity_for_magnitude_ops():
    x = _images()
    for name in ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Solarize", "Posterize", "Cutout"):
        np.testing.assert_allclose(_one(name, x, 0.0), x.numpy(), atol=1e-3, err_msg=name)
    # Enhance ops are the identity at factor 1, i.e. magnitude 0.5 (level 5).
    for name in ("Contrast", "Color", "Brightness", "Sharpness"):
        np.testing.assert_allclose(_one(name, x, 0.5), x.numpy(), atol=1e-3, err_msg=name)


def test_known_values():
    x = _images()
    np.testing.assert_allclose(_one("Invert", x, 0.3), 255.0 - x.numpy())
    # Solarize at magnitude 1 (threshold 0) inverts every pixel.
    np.testing.assert_allclose(_one("Solarize", x, 1.0), 255.0 - x.numpy())
    # Posterize at magnitude 1 keeps 4 bits: multiples of 16.
    assert np.all(_one("Posterize", x, 1.0) % 16 == 0)
    # Brightness at magnitude 0 (factor 0.1) scales by 0.1.
    np.testing.assert_allclose(_one("Brightness", x, 0.0), 0.1 * x.numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(_one("FlipLR", x, 0.0), x.numpy()[:, :, ::-1])
    # A translation by the full magnitude shifts by round(150/331 * 16) ~ 7.25 px either way: the
    # exposed border is grey.
    y = _one("TranslateX", x, 1.0)
    border = np.concatenate([y[:, :, :7], y[:, :, -7:]], axis=2)
    assert np.mean(np.isclose(border, A.FILL_VALUE)) > 0.45
    # Cutout at magnitude 1 on 16x16 fills a 10x10 square (clipped at borders) with grey.
    c = _one("Cutout", x, 1.0)
    filled = np.all(np.isclose(c, A.FILL_VALUE), axis=-1).sum(axis=(1, 2))
    assert np.all(filled >= 25) and np.all(filled <= 100)


def test_grouped_application_matches_per_op_application():
    x = _images(batch=8)
    ops = tf.constant([A.op_index(n) for n in ("Rotate", "Invert", "Rotate", "Equalize", "Identity", "Color",
                                               "Invert", "Solarize")])
    mags = tf.constant([0.2, 0.5, 0.9, 0.1, 0.4, 0.7, 0.3, 0.6])
    grouped = A.apply_ops(x, ops, mags, (3, 4)).numpy()
    for name in ("Invert", "Equalize", "Identity", "Color", "Solarize"):
        rows = np.where(ops.numpy() == A.op_index(name))[0]
        single = A.apply_ops(tf.gather(x, rows), tf.gather(ops, rows), tf.gather(mags, rows), (3, 4)).numpy()
        np.testing.assert_allclose(grouped[rows], single, atol=1e-4, err_msg=name)


def test_seeded_and_reproducible():
    x = _images()
    ops = tf.constant([A.op_index("Rotate")] * 3 + [A.op_index("Cutout")] * 3)
    mags = tf.fill([6], 0.9)
    a = A.apply_ops(x, ops, mags, (5, 6)).numpy()
    b = A.apply_ops(x, ops, mags, (5, 6)).numpy()
    c = A.apply_ops(x, ops, mags, (5, 7)).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0


def test_slots_apply_in_order_and_inside_tf_data():
    x = _images(batch=4)
    ops = tf.constant([[A.op_index("Invert"), A.op_index("Invert")]] * 4)
    y = A.apply_op_slots(x, ops, tf.zeros([4, 2]), (0, 0)).numpy()
    np.testing.assert_allclose(y, x.numpy())  # inverted twice
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(
        lambda b: A.apply_ops(b, tf.fill([tf.shape(b)[0]], A.op_index("Equalize")), tf.zeros([tf.shape(b)[0]]), (0, 1)))
    out = np.concatenate(list(ds.as_numpy_iterator()))
    assert out.shape == x.shape


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="rank 4"):
        A.apply_ops(tf.zeros([8, 8, 3]), tf.constant([0]), tf.constant([0.0]), (0, 0))
    with pytest.raises(ValueError, match="Unknown augmentation op 'Zoom'"):
        A.op_index("Zoom")
