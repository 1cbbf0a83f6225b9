r"""Train a child network from a genotype: `python -m launch.train --model=darts_v2 ...`.

The DARTS evaluation recipe by default (600 epochs, batch 96, lr 0.025 cosine, momentum 0.9,
weight decay 3e-4, cutout 16, drop-path 0.2, auxiliary 0.4, clip 5). A rerun with the same
--workdir resumes from the last epoch's checkpoint. The last line printed is the JSON report
(also in <workdir>/report.json). `--dataset` is cifar10, digits, or the path of a folder
of the user's images, one sub-folder per class (`tfnas.data.user`: size, classes and
normalisation statistics are read from the images).

Example (a size these 2 CPU cores can train):
  python -m launch.train --model=darts_v2 --dataset=cifar10 --channels=16 --layers=8 \
      --epochs=10 --batch_size=64 --workdir=runs/darts_v2_c16_l8
"""

from __future__ import annotations

import json
import sys

from absl import app, flags

from launch._aliases import define_deprecated, resolve
from launch._cluster import strategy_from_flags
from tfnas.ops.binary import MODES as BINARY_MODES

_BINARIZED = flags.DEFINE_enum(
    "binarized", None, list(BINARY_MODES),
    "A binarized cell network (BNAS, arXiv 1911.10862): the cells' convolutions with XNOR-Net 1-bit weights, "
    "or 1-bit weights and sign activations; stem and classifier stay float. The report adds `size` (bytes, "
    "1-bit kernels packed).")
_MODEL = flags.DEFINE_string(
    "model", "darts_v2", "What to train: a published name, genotype string, JSON text or path to a JSON file."
)
_DATASET = flags.DEFINE_string(
    "dataset", "cifar10", "Training data: cifar10, digits, a folder of images with one sub-folder per class, or tfds:NAME[:CONFIG].")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Folder holding cifar10/cifar10_jpg.tar.gz; default $TFNAS_DATA_DIR."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run folder; reusing it resumes the run.", required=True)
_EPOCHS = flags.DEFINE_integer("epochs", 600, "Training epochs.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 96, "Global batch size (split over replicas).")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.025, "Initial cosine learning rate.")
_MIN_LEARNING_RATE = flags.DEFINE_float("min_learning_rate", 0.0, "Final cosine learning rate.")
_MOMENTUM = flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", 3e-4, "Coupled L2 weight decay.")
_GRAD_CLIP = flags.DEFINE_float("grad_clip", 5.0, "Global-norm gradient clipping; 0 disables.")
_LABEL_SMOOTHING = flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing.")
_CUTOUT = flags.DEFINE_integer("cutout", 16, "Cutout size in pixels; 0 disables.")
_DROP_PATH_RATE = flags.DEFINE_float("drop_path_rate", 0.2, "Final drop-path rate.")
_AUXILIARY_WEIGHT = flags.DEFINE_float("auxiliary_weight", 0.4, "Auxiliary loss weight; 0 = no head.")
_CHANNELS = flags.DEFINE_integer("channels", None, "Initial channels (cell spaces).")
_LAYERS = flags.DEFINE_integer("layers", None, "Number of cells.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Square image side (default: the dataset's; others resized).")
_GENOTYPE = define_deprecated("string", "genotype", "model")
_INPUT_SIZE = define_deprecated("integer", "input_size", "image_size")
_EMA_DECAY = flags.DEFINE_float("ema_decay", None, "Weight EMA decay for evaluation; unset disables.")
_MIXED_PRECISION = flags.DEFINE_enum(
    "mixed_precision", None, ["mixed_float16", "mixed_bfloat16"], "Mixed-precision policy."
)
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None, "Train on the first N only.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress verbosity (0, 1 or 2).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.children.training import (
        CorruptCheckpointError,
        NonFiniteLossError,
        TrainConfig,
        train,
    )

    try:
        strategy = strategy_from_flags()
        config = TrainConfig(
            genotype=resolve(_MODEL, _GENOTYPE),
            dataset=_DATASET.value,
            data_dir=_DATA_DIR.value,
            epochs=_EPOCHS.value,
            batch_size=_BATCH_SIZE.value,
            learning_rate=_LEARNING_RATE.value,
            min_learning_rate=_MIN_LEARNING_RATE.value,
            momentum=_MOMENTUM.value,
            weight_decay=_WEIGHT_DECAY.value,
            grad_clip=_GRAD_CLIP.value,
            label_smoothing=_LABEL_SMOOTHING.value,
            cutout=_CUTOUT.value,
            drop_path_rate=_DROP_PATH_RATE.value,
            auxiliary_weight=_AUXILIARY_WEIGHT.value,
            channels=_CHANNELS.value,
            layers=_LAYERS.value,
            input_size=resolve(_IMAGE_SIZE, _INPUT_SIZE),
            ema_decay=_EMA_DECAY.value,
            mixed_precision=_MIXED_PRECISION.value,
            max_train_examples=_MAX_TRAIN_EXAMPLES.value,
            seed=_SEED.value,
            binarized=_BINARIZED.value,
        )
        report = train(config, _WORKDIR.value, verbose=_VERBOSE.value, strategy=strategy)
    except (ValueError, KeyError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    summary = {k: v for k, v in report.items() if k != "history"}
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
