r"""Consumption check: use exported tfnas models without tfnas.

Loads every artifact an export wrote (listed in its model card, `<name>.card.json`) with the
runtime a deployment would use, and classifies real CIFAR-10 test images read straight from
the JPEG archive:

    SavedModel  -> tensorflow (`tf.saved_model.load`, `serving_default`)
    .keras      -> keras (`keras.saving.load_model`)
    .onnx       -> onnxruntime
    .tflite     -> ai_edge_litert (float32, float16 and int8 files)

It never imports tfnas (it stops with an error if anything did). Every model takes uint8
images and returns probabilities, so the only preprocessing here is JPEG decoding (and a
resize when the model is not 32x32). The last line printed is a JSON object: format ->
{accuracy, images, path}.

Usage:
  python examples/consume.py --card=exports/darts_v2_c16_l8_cifar10.card.json --num_images=1000
"""

from __future__ import annotations

import json
import os
import sys
import tarfile

import numpy as np
from absl import app, flags

_CARD = flags.DEFINE_multi_string("card", None, "Model card(s) written by the export.", required=True)
_ARCHIVE = flags.DEFINE_string(
    "archive", None, "CIFAR-10 JPEG archive; default $TFNAS_DATA_DIR/cifar10/cifar10_jpg.tar.gz."
)
_NUM_IMAGES = flags.DEFINE_integer("num_images", 1000, "Test images, balanced over the 10 classes.")

#: The official CIFAR-10 label order.
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_cifar10_test(archive: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns `count` test images (uint8 [count, 32, 32, 3]) and labels, count/10 per class.

    The archive holds `cifar10_jpg/test/<class>/NNNN.jpg`; the first images of each class
    by file number are taken.
    """
    import tensorflow as tf

    if count < 10 or count % 10:
        raise ValueError(f"num_images must be a positive multiple of 10. Received: {count}")
    per_class = count // 10
    wanted: dict[str, tuple[int, int]] = {}
    for label, name in enumerate(CLASSES):
        for i in range(per_class):
            wanted[f"cifar10_jpg/test/{name}/{i:04d}.jpg"] = (label, i)
    images = np.zeros((count, 32, 32, 3), np.uint8)
    labels = np.zeros((count,), np.int64)
    found = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            key = wanted.get(member.name.lstrip("./"))
            if key is None:
                continue
            label, i = key
            data = tar.extractfile(member).read()
            images[label * per_class + i] = tf.io.decode_jpeg(data, channels=3).numpy()
            labels[label * per_class + i] = label
            found += 1
            if found == count:  # the archive stores test/ first: stop early
                break
    if found != count:
        raise ValueError(f"{archive} gave {found} of the {count} test images asked for: is it the CIFAR-10 JPEG archive?")
    return images, labels


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize to `size`, rounded back to uint8 (no-op at the native size)."""
    if images.shape[1] == size:
        return images
    import tensorflow as tf

    out = tf.image.resize(tf.cast(images, tf.float32), (size, size), method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8).numpy()


def predict_saved_model(path: str, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    fn = tf.saved_model.load(path).signatures["serving_default"]
    return np.concatenate(
        [fn(images=tf.constant(images[i : i + 100]))["probabilities"].numpy() for i in range(0, len(images), 100)]
    )


def predict_keras(path: str, images: np.ndarray) -> np.ndarray:
    import keras

    model = keras.saving.load_model(path, compile=False)  # safe_mode: plain Keras layers only
    return model.predict(images, batch_size=100, verbose=0)


def predict_onnx(path: str, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i : i + 100]})[0] for i in range(0, len(images), 100)])


def predict_tflite(path: str, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    results = []
    for i in range(0, len(images), 100):
        batch = images[i : i + 100]
        interpreter.resize_tensor_input(inp["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], batch)
        interpreter.invoke()
        result = interpreter.get_tensor(out["index"]).astype(np.float32)
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            result = (result - zero) * scale
        results.append(result)
    return np.concatenate(results)


RUNNERS = {
    "saved_model": predict_saved_model,
    "keras": predict_keras,
    "onnx": predict_onnx,
    "tflite": predict_tflite,
    "tflite_fp16": predict_tflite,
    "tflite_int8": predict_tflite,
}


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    archive = _ARCHIVE.value or os.path.join(os.environ.get("TFNAS_DATA_DIR", "../shared/data"), "cifar10", "cifar10_jpg.tar.gz")
    if not os.path.isfile(archive):
        print(f"error: CIFAR-10 archive not found at {archive}; pass --archive or set TFNAS_DATA_DIR.", file=sys.stderr)
        sys.exit(2)
    images, labels = load_cifar10_test(archive, _NUM_IMAGES.value)
    results: dict[str, dict] = {}
    for card_path in _CARD.value:
        with open(card_path, encoding="utf-8") as f:
            card = json.load(f)
        size = card["input"]["shape"][1]
        batch = resize(images, size)
        for fmt, entry in card["formats"].items():
            if fmt not in RUNNERS:
                print(f"skipping unknown format {fmt!r} in {card_path}", file=sys.stderr)
                continue
            probabilities = RUNNERS[fmt](entry["path"], batch)
            accuracy = float(np.mean(probabilities.argmax(-1) == labels))
            key = fmt if len(_CARD.value) == 1 else f"{card['name']}/{fmt}"
            results[key] = {"accuracy": accuracy, "images": len(labels), "path": entry["path"]}
            print(f"{key:40s} accuracy {accuracy:.4f} on {len(labels)} CIFAR-10 test images")
    leaked = sorted(m for m in sys.modules if m == "tfnas" or m.startswith("tfnas."))
    if leaked:
        print(f"error: the consumption check imported tfnas modules: {leaked[:5]}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(results))


if __name__ == "__main__":
    app.run(main)
