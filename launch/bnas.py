r"""BNAS against PC-DARTS at one proxy and budget, and its binarized child against the same
genotype in full precision: `python -m launch.bnas --workdir=runs/bnas_bench`.

The three measurements of BNAS (Chen et al., arXiv 1911.10862) in one run:

1. **Search time**: PC-DARTS (arXiv 1907.05737) and BNAS searched with the same data, network,
   seed, epochs and batch size (BNAS's preset for the space: its warm-up plus one reduction
   round per op to abandon; PC-DARTS's preset otherwise, its epochs set to the same count),
   each with the engine's resume (`tfnas.algorithms.runner.search`): seconds per epoch
   (median) and in all. The paper's BNAS search is 40% faster than PC-DARTS's.
2. **Accuracy**: the genotype BNAS found, trained from scratch twice with one recipe
   (`tfnas.children.training.train`): in full precision and with 1-bit weights
   (`--binarized=weights`: XNOR-Net scaling; `--binarized=pcnn`: PCNN's projection, arXiv
   1811.12755, the paper's second method; `tfnas.ops.binary`); CIFAR-10 test accuracy of both.
   The paper: 96.53% binarized against 97.22% in full precision (a 0.69-point gap) at its full
   network and 600 epochs.
3. **Size**: both children in bytes (float32 weights; the binarized child with its 1-bit
   kernels packed, `packed_bytes`).

Every part resumes from `--workdir` (`pc_darts/`, `bnas/`, `child_float/`, `child_weights/` or
`child_pcnn/`), so a second `--binarized` on the same workdir trains only its own child.
The LAST line printed is one JSON object: `{"search": {"pc_darts" | "bnas": {"genotype",
"seconds_per_epoch", "search_seconds", "epochs", "recipe"}}, "bnas_time_ratio" (BNAS's
search seconds over PC-DARTS's; the paper 0.6), "child": {"genotype", "recipe", "float" |
"binarized": {"test_accuracy", "bytes", "mode"}}, "accuracy_gap" (float minus binarized, points),
"binarized_packed_bytes", "published", "cpu", "cpu_vector_extensions", "kernel_library"}`.

Errors (missing data, a workdir holding other settings, bad sizes) print `error: ...` on
stderr and exit with status 2.

Example (the CPU proxy of `launch.nb201`: 8 channels, 1 cell per stage, 16x16 images):
  python -m launch.bnas --space=nb201 --channels=8 --layers=1 --image_size=16 \
      --max_train_examples=50000 --child_epochs=10 --workdir=runs/bnas_bench
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from launch._cluster import strategy_from_flags

_WORKDIR = flags.DEFINE_string("workdir", "runs/bnas_bench", "Parent folder of the run's parts (resumable).")
_SPACE = flags.DEFINE_enum("space", "nb201", ["nb201", "darts"], "Cell space of both searches.")
_DATASET = flags.DEFINE_string("dataset", "cifar10", "Search and child data (cifar10; digits for smoke runs).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Shared data folder (cifar10/); default $TFNAS_DATA_DIR.")
_CHANNELS = flags.DEFINE_integer("channels", 8, "Supernet initial channels of both searches.")
_LAYERS = flags.DEFINE_integer("layers", 1, "Supernet cells (DARTS) or cells per stage (NB201).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 16, "Image side of the searches and the children.")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer(
    "max_train_examples", 50000, "First N training images of the searches (split 50/50 weights/architecture).")
_WARMUP = flags.DEFINE_integer(
    "arch_warmup_epochs", None, "Epochs of both searches before the architecture moves (default: the presets', 15).")
_REDUCE_EVERY = flags.DEFINE_integer(
    "reduce_every", None, "BNAS: epochs per reduction round (default 5); both searches run the warm-up plus one "
    "round per op BNAS abandons (NB201 4, DARTS 6).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Search batch of both (default: the presets', 256).")
_CHILD_EPOCHS = flags.DEFINE_integer("child_epochs", 10, "Epochs of each child (paper 600).")
_BINARIZED = flags.DEFINE_enum("binarized", "weights", ["weights", "pcnn"],
                               "The binarized child's 1-bit weights: XNOR-Net's (weights) or PCNN's projection.")
_CHILD_CHANNELS = flags.DEFINE_integer("child_channels", 16, "Child initial channels.")
_CHILD_LAYERS = flags.DEFINE_integer("child_layers", 2, "Child cells (DARTS) or cells per stage (NB201).")
_CHILD_TRAIN_EXAMPLES = flags.DEFINE_integer("child_train_examples", 10000, "First N training images of the children.")
_CHILD_BATCH_SIZE = flags.DEFINE_integer("child_batch_size", 64, "Child batch size.")
_CHILD_LEARNING_RATE = flags.DEFINE_float("child_learning_rate", 0.05, "Child initial cosine learning rate.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of both searches and both children.")
_VERBOSE = flags.DEFINE_integer("verbose", 2, "Keras progress verbosity.")

PUBLISHED = {"source": "Chen et al., BNAS, arXiv 1911.10862 (CIFAR-10, full network, 600 epochs)",
             "bnas_time_ratio": 0.6, "cifar10_binarized": 96.53, "cifar10_float": 97.22}


def _search(algorithm: str, schedule: dict[str, int], strategy) -> dict:
    from tfnas.algorithms.config import recipe_text
    from tfnas.algorithms.runner import make_search_config, search

    if algorithm != "bnas":
        schedule = {k: v for k, v in schedule.items() if k != "reduce_every"}
    config = make_search_config(algorithm, _SPACE.value, channels=_CHANNELS.value, layers=_LAYERS.value,
                                seed=_SEED.value, **schedule)
    workdir = os.path.join(_WORKDIR.value, algorithm)
    print(f"== {algorithm} search ({recipe_text(config)}): {workdir}", flush=True)
    report = search(config, space=_SPACE.value, dataset=_DATASET.value, workdir=workdir, data_dir=_DATA_DIR.value,
                    max_train_examples=_MAX_TRAIN_EXAMPLES.value, image_size=_IMAGE_SIZE.value,
                    verbose=_VERBOSE.value, strategy=strategy)
    return {"genotype": report["genotype"], "seconds_per_epoch": report["seconds_per_epoch"],
            "search_seconds": report["search_seconds"], "epochs": config.epochs, "batch_size": config.batch_size,
            "recipe": recipe_text(config)}


def _child(genotype: str, binarized: str | None, strategy) -> dict:
    from tfnas.children.training import TrainConfig, train

    config = TrainConfig(
        genotype=genotype, dataset=_DATASET.value, data_dir=_DATA_DIR.value, epochs=_CHILD_EPOCHS.value,
        batch_size=_CHILD_BATCH_SIZE.value, learning_rate=_CHILD_LEARNING_RATE.value, cutout=0,
        drop_path_rate=0.0, auxiliary_weight=0.0, channels=_CHILD_CHANNELS.value, layers=_CHILD_LAYERS.value,
        input_size=_IMAGE_SIZE.value, max_train_examples=_CHILD_TRAIN_EXAMPLES.value, seed=_SEED.value,
        binarized=binarized)
    workdir = os.path.join(_WORKDIR.value, f"child_{binarized or 'float'}")
    print(f"== child, {'1-bit ' + binarized if binarized else 'full precision'}: {workdir}", flush=True)
    return train(config, workdir, verbose=_VERBOSE.value, strategy=strategy)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    from tfnas.algorithms.runner import make_search_config
    from tfnas.runs import CorruptCheckpointError, NonFiniteLossError
    from tfnas.spaces import darts as darts_space, nb201 as nb201_space

    try:
        strategy = strategy_from_flags()
        for name in ("child_epochs", "child_channels", "child_layers", "child_train_examples", "child_batch_size"):
            if flags.FLAGS[name].value < 1:
                raise ValueError(f"--{name} must be >= 1. Received: {flags.FLAGS[name].value}")
        preset = make_search_config("bnas", _SPACE.value, arch_warmup_epochs=_WARMUP.value,
                                    reduce_every=_REDUCE_EVERY.value)
        ops = (darts_space if _SPACE.value == "darts" else nb201_space).OPS
        rounds = len(ops) - 1 - int(_SPACE.value == "darts")  # to one op per edge; DARTS drops `none` first
        epochs = preset.arch_warmup_epochs + rounds * preset.reduce_every
        schedule = {"epochs": epochs, "batch_size": _BATCH_SIZE.value or preset.batch_size,
                    "arch_warmup_epochs": preset.arch_warmup_epochs, "reduce_every": preset.reduce_every}
        searches = {name: _search(name, schedule, strategy) for name in ("pc_darts", "bnas")}
        genotype = searches["bnas"]["genotype"]
        children = {"float": _child(genotype, None, strategy), "binarized": _child(genotype, _BINARIZED.value, strategy)}
    except (ValueError, FileNotFoundError, CorruptCheckpointError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    size = children["binarized"]["size"]
    accuracy = {k: 100.0 * float(r["test_accuracy"]) for k, r in children.items()}
    ratio = searches["bnas"]["search_seconds"] / searches["pc_darts"]["search_seconds"]
    summary = {
        "search": searches, "bnas_time_ratio": ratio, "epochs": epochs,
        "child": {"genotype": genotype,
                  "recipe": (f"{_CHILD_EPOCHS.value} epochs, batch {_CHILD_BATCH_SIZE.value}, lr "
                             f"{_CHILD_LEARNING_RATE.value:g} cosine, {_CHILD_CHANNELS.value} channels, "
                             f"{_CHILD_LAYERS.value} cells, {_IMAGE_SIZE.value}x{_IMAGE_SIZE.value}, first "
                             f"{_CHILD_TRAIN_EXAMPLES.value} training images, no cutout"),
                  "float": {"test_accuracy": accuracy["float"], "bytes": size["float32_bytes"]},
                  "binarized": {"test_accuracy": accuracy["binarized"], "bytes": size["packed_bytes"],
                                "mode": _BINARIZED.value}},
        "accuracy_gap": accuracy["float"] - accuracy["binarized"],
        "binarized_packed_bytes": size["packed_bytes"], "published": PUBLISHED,
        **runtime.machine(),
    }
    print(f"{'':28s}{'ours':>14s}{'paper':>10s}")
    print(f"{'search seconds BNAS/PC-DARTS':28s}{ratio:14.2f}{PUBLISHED['bnas_time_ratio']:10.2f}  "
          f"({searches['bnas']['search_seconds']:.0f} s / {searches['pc_darts']['search_seconds']:.0f} s, "
          f"{epochs} epochs each)")
    print(f"{'CIFAR-10 full precision':28s}{accuracy['float']:14.2f}{PUBLISHED['cifar10_float']:10.2f}")
    print(f"{'CIFAR-10 1-bit ' + _BINARIZED.value:28s}{accuracy['binarized']:14.2f}{PUBLISHED['cifar10_binarized']:10.2f}")
    print(f"{'bytes float / 1-bit packed':28s}{size['float32_bytes']:>8d} / {size['packed_bytes']}")
    print(f"child recipe here: {summary['child']['recipe']} (the paper: its full network, 600 epochs)")
    print(json.dumps(summary))


if __name__ == "__main__":
    app.run(main)
