r"""Export a model for deployment: `python -m export --model=... --formats=... --out=DIR`.

Writes a SavedModel (`DIR/<name>/<version>/`, uint8 `serving_default` -> probabilities),
a plain-Keras `.keras` file, ONNX and TFLite (float32, float16, int8) files, checks every
one against the Keras model on real test images, times batch-1 latency on this CPU, and
writes `DIR/<name>.card.json`. The last line printed is the JSON summary: one entry per
format with path, size_bytes, max_abs_diff or top1_agreement, and latency.

Examples:
  python -m export --model=darts_v2.c16_l8_cifar10 --out=exports
  python -m export --model=runs/darts_v2_c16_l8/model.keras --formats=saved_model,tflite_int8 --out=exports
  python -m export --model=mobilenet_v2 --formats=onnx,tflite --out=exports --nostrict

Exit status: 0 on success, 2 for bad input, 3 when a format misses its parity tolerance
(the files and the card are still written, and the summary is still the last line).
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from launch._aliases import define_deprecated, resolve

_MODEL = flags.DEFINE_string(
    "model", None, "A .keras file, a zoo name (darts_v2.c16_l8_cifar10), or a genotype (name, string, JSON, file).",
    required=True,
)
_OUT = flags.DEFINE_string("out", None, "Output folder.", required=True)
_FORMATS = flags.DEFINE_string(
    "formats", "keras,saved_model,onnx,tflite,tflite_fp16,tflite_int8", "Comma-separated formats, or 'all'."
)
_NAME = flags.DEFINE_string("name", None, "Output name (default: from --model).")
_VERSION = flags.DEFINE_integer("version", 1, "SavedModel version folder.")
_DATASET = flags.DEFINE_string("dataset", None, "Dataset of a genotype network (cifar10, digits, imagenet).")
_CHANNELS = flags.DEFINE_integer("channels", None, "Initial channels of a genotype network (cell spaces).")
_LAYERS = flags.DEFINE_integer("layers", None, "Cells of a genotype network.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Square image side of a genotype network.")
_INPUT_SIZE = define_deprecated("integer", "input_size", "image_size")
_PARITY_IMAGES = flags.DEFINE_integer("parity_images", 1000, "Real test images compared per format.")
_CALIBRATION_IMAGES = flags.DEFINE_integer("calibration_images", 200, "Training images for int8 calibration.")
_CALIBRATION_DATASET = flags.DEFINE_string(
    "calibration_dataset", None,
    "Data of the int8 calibration (default: the model's; ImageNet-size models get CIFAR-10 upscaled): cifar10, "
    "digits, a folder of images with one sub-folder per class, or tfds:NAME[:CONFIG].")
_LATENCY_RUNS = flags.DEFINE_integer("latency_runs", 50, "Timed batch-1 calls per format.")
_OPSET = flags.DEFINE_integer("opset", 17, "ONNX opset (>= 17).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Folder holding cifar10/; default $TFNAS_DATA_DIR.")
_STRICT = flags.DEFINE_boolean("strict", True, "Exit 3 when a format misses its parity tolerance.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from export.exporter import ExportConfig, export_model
    from export.parity import ParityError
    from tfnas.applications import WeightsIntegrityError

    try:
        config = ExportConfig(
            model=_MODEL.value,
            out=_OUT.value,
            formats=_FORMATS.value,
            name=_NAME.value,
            version=_VERSION.value,
            dataset=_DATASET.value,
            channels=_CHANNELS.value,
            layers=_LAYERS.value,
            input_size=resolve(_IMAGE_SIZE, _INPUT_SIZE),
            parity_images=_PARITY_IMAGES.value,
            calibration_images=_CALIBRATION_IMAGES.value,
            calibration_dataset=_CALIBRATION_DATASET.value,
            latency_runs=_LATENCY_RUNS.value,
            opset=_OPSET.value,
            data_dir=_DATA_DIR.value,
            strict=_STRICT.value,
        )
        summary = export_model(config)
    except ParityError as err:
        print(f"error: {err}", file=sys.stderr)
        if err.summary is not None:
            print(json.dumps(err.summary))  # still the last line: the figures that failed
        sys.exit(3)
    except (ValueError, FileNotFoundError, WeightsIntegrityError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
