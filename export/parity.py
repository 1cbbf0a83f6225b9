"""Export parity: every format against the Keras model, on real images.

Float formats are compared by the maximum absolute difference of the class probabilities
(tolerance 1e-4 for float32 formats, 1e-2 for float16 weights); the int8 model by top-1
agreement with the Keras model's predictions (at least 99% on 1,000 CIFAR-10 test images
for a trained CIFAR model). Images are real: the dataset's test split through `tfnas.data`
(resized when the network takes another size), and calibration images for int8 come from
the training split.

Example:
>>> images, labels = real_images("cifar10", "test", 1000, size=32)  # doctest: +SKIP
>>> check_parity("tflite_int8", reference, predictions)  # doctest: +SKIP
{'top1_agreement': 0.995, 'threshold': 0.99, 'ok': True, ...}
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: Format -> ("max_abs_diff" | "top1_agreement", threshold).
TOLERANCES: dict[str, tuple[str, float]] = {
    "keras": ("max_abs_diff", 1e-4),
    "saved_model": ("max_abs_diff", 1e-4),
    "onnx": ("max_abs_diff", 1e-4),
    "tflite": ("max_abs_diff", 1e-4),
    "tflite_fp16": ("max_abs_diff", 1e-2),
    "tflite_int8": ("top1_agreement", 0.99),
}


class ParityError(RuntimeError):
    """An exported model disagrees with the Keras model beyond its format's tolerance.

    Args:
        message: What failed and by how much.
        summary: The export summary (every format's figures), for callers that report it.
    """

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary


def real_images(dataset: str, split: str, count: int, size: int | None = None, data_dir: str | None = None):
    """Returns the first `count` images and labels of a real dataset split as numpy arrays.

    Args:
        dataset: A `tfnas.data` dataset (`"cifar10"`, `"digits"`); `"imagenet"` (for
            networks built at ImageNet size) uses CIFAR-10 images resized.
        split: `"train"` or `"test"`.
        count: Number of images (>= 1).
        size: Square size the network takes; images are resized bilinearly and rounded back
            to uint8 when it differs from the dataset's.
        data_dir: Raw-data folder (default `$TFNAS_DATA_DIR`).

    Returns:
        `(images uint8 [count, size, size, 3], labels int64 [count])`.

    Raises:
        ValueError: for a bad split or count, or a split with fewer than `count` images.
    """
    from tfnas import data

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'. Received: split={split!r}")
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int. Received: count={count!r}")
    source = "cifar10" if dataset == "imagenet" else dataset
    train, test = data.load_splits(source, data_dir=data_dir)
    ds = (train if split == "train" else test).take(count).batch(count)
    images, labels = next(iter(ds))
    if int(images.shape[0]) < count:
        raise ValueError(f"{source} {split} has only {images.shape[0]} images; asked for {count}.")
    if size is not None and int(images.shape[1]) != size:
        images = tf.image.resize(tf.cast(images, tf.float32), (size, size), method="bilinear")
        images = tf.cast(tf.clip_by_value(tf.round(images), 0, 255), tf.uint8)
    return images.numpy(), labels.numpy()


def compare(reference: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Returns the max absolute difference and the top-1 agreement of two probability arrays.

    Raises:
        ValueError: if the shapes differ.
    """
    reference = np.asarray(reference, dtype=np.float32)
    predictions = np.asarray(predictions, dtype=np.float32)
    if reference.shape != predictions.shape:
        raise ValueError(f"Output shapes differ: reference {reference.shape}, export {predictions.shape}.")
    return {
        "max_abs_diff": float(np.max(np.abs(reference - predictions))),
        "top1_agreement": float(np.mean(reference.argmax(-1) == predictions.argmax(-1))),
    }


def check_parity(fmt: str, reference: np.ndarray, predictions: np.ndarray) -> dict[str, float | bool | str | int]:
    """Compares one format's outputs with the Keras reference against its tolerance.

    Args:
        fmt: A key of `TOLERANCES`.
        reference: Keras probabilities `[N, classes]`.
        predictions: The format's probabilities `[N, classes]`.

    Returns:
        `{"metric", "threshold", "ok", "images", "max_abs_diff", "top1_agreement"}` (both
        figures are always reported; `metric` names the one that is checked).

    Raises:
        ValueError: for an unknown format or mismatched shapes.
    """
    if fmt not in TOLERANCES:
        raise ValueError(f"Unknown format {fmt!r}; known: {', '.join(TOLERANCES)}")
    metric, threshold = TOLERANCES[fmt]
    figures = compare(reference, predictions)
    value = figures[metric]
    ok = value <= threshold if metric == "max_abs_diff" else value >= threshold
    return {"metric": metric, "threshold": threshold, "ok": bool(ok), "images": len(reference), **figures}
