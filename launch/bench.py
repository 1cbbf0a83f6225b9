"""Benchmarks, one sub-command each; the last line printed is one JSON object.

Usage:
    python -m launch.bench input_pipeline --dataset=cifar10 --batch_size=128
    python -m launch.bench input_pipeline --dataset=digits --noaugment
    python -m launch.bench search_step --space=darts --algorithm=darts --batch_size=32 \
        --channels=16 --layers=8
    python -m launch.bench search_data --dataset=/tmp/images --make_images=50000 --image_size=64

Sub-commands are the functions in `SUBCOMMANDS` (name -> function taking the parsed flag
values as a dict and returning the JSON-able result); add one by writing a function and
an entry there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any
from collections.abc import Callable

from absl import app, flags

_DATASET = flags.DEFINE_string(
    "dataset", "cifar10", "Dataset: cifar10, digits, a folder of images (one sub-folder per class) or tfds:NAME.")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Shared data folder holding cifar10/ (default: $TFNAS_DATA_DIR)."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size of the timed pipeline.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 200, "Batches timed after the warm-up.")
_WARMUP_BATCHES = flags.DEFINE_integer("warmup_batches", 20, "Batches drawn before timing starts.")
_AUGMENT = flags.DEFINE_boolean("augment", True, "Time the augmented (crop/flip/cutout) pipeline.")
_CUTOUT = flags.DEFINE_integer("cutout", 16, "Cutout square side (0 disables).")
_SEED = flags.DEFINE_integer("seed", 0, "Pipeline seed.")
_SPACE = flags.DEFINE_enum("space", "darts", ["darts", "nb201"], "search_step: search space.")
_ALGORITHM = flags.DEFINE_string(
    "algorithm", "darts", "search_step: algorithm (darts, darts2, darts_minus, pc_darts, gdas, rome, bnas)."
)
_CHANNELS = flags.DEFINE_integer("channels", 16, "search_step: initial channels.")
_LAYERS = flags.DEFINE_integer("layers", 8, "search_step: cells (DARTS) or cells per stage (NB201).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 32, "search_step: image side.")
_TIMED_STEPS = flags.DEFINE_integer("timed_steps", 5, "search_step: steps timed after warm-up.")
_WARMUP_STEPS = flags.DEFINE_integer("warmup_steps", 1, "search_step: steps after the first, untimed.")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", 0, "search_step: sub-models per step for ROME (0: the algorithm's default, K=7).")
_BNAS_ROUNDS = flags.DEFINE_integer(
    "bnas_rounds", 0, "search_step, bnas: time the step of a later round, this many ops abandoned per edge at random.")
_GRAPPLER = flags.DEFINE_boolean(
    "grappler", True, "search_step: keep TF's graph optimizer (grappler) on."
)
_METHOD = flags.DEFINE_enum("method", "ddas", ["ddas", "pg", "daas"], "augment_step: augmentation search method.")
_INNER_PRODUCT = flags.DEFINE_enum(
    "inner_product", "exact", ["exact", "last_layer"], "augment_step: DDAS's per-image inner products.")
_STREAM = flags.DEFINE_enum(
    "stream", "default", ["default", "yes", "no"],
    "search_data: stream the training set from disk (yes), hold it in memory (no), or the dataset's default.")
_MAKE_IMAGES = flags.DEFINE_integer(
    "make_images", 0, "search_data: first write this many synthetic PNGs into the --dataset folder (0: none).")
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None, "search_data: first N training images.")
_STEP = flags.DEFINE_enum(
    "step", "auto", ["auto", "algorithm", "minimal"],
    "search_step: time the algorithm's train_step (tfnas.algorithms) or the built-in minimal "
    "first-order step; auto = the algorithm's when tfnas.algorithms provides it.",
)


def input_pipeline(config: dict[str, Any]) -> dict[str, Any]:
    """Times the training input pipeline: images per second after a warm-up.

    Args:
        config: Flag values: dataset, data_dir, batch_size, num_batches, warmup_batches,
            augment, cutout, seed.

    Returns:
        `{"benchmark", "dataset", "batch_size", "augment", "num_batches",
        "images_per_second", "seconds", "first_batch_seconds"}`.

    Raises:
        ValueError: on a non-positive batch count.
    """
    from tfnas import data  # Imported here so `--help` stays fast.

    if config["num_batches"] < 1 or config["warmup_batches"] < 0:
        raise ValueError(
            "num_batches must be >= 1 and warmup_batches >= 0. Received: "
            f"num_batches={config['num_batches']}, warmup_batches={config['warmup_batches']}"
        )
    name = config["dataset"]
    train, _ = data.load_splits(name, data_dir=config["data_dir"])
    batches = data.make_train_dataset(
        train,
        config["batch_size"],
        augment=config["augment"],
        cutout=config["cutout"],
        dataset=name,
        seed=config["seed"],
        repeat=True,
    )
    iterator = iter(batches)
    start = time.perf_counter()
    next(iterator)
    first_batch_seconds = time.perf_counter() - start
    for _ in range(config["warmup_batches"]):
        next(iterator)
    start = time.perf_counter()
    for _ in range(config["num_batches"]):
        images, _ = next(iterator)
    images.numpy()  # Make sure the last batch is materialized.
    seconds = time.perf_counter() - start
    return {
        "benchmark": "input_pipeline",
        "dataset": name,
        "batch_size": config["batch_size"],
        "augment": config["augment"],
        "num_batches": config["num_batches"],
        "images_per_second": round(config["num_batches"] * config["batch_size"] / seconds, 1),
        "seconds": round(seconds, 3),
        "first_batch_seconds": round(first_batch_seconds, 3),
    }


def search_step(config: dict[str, Any]) -> dict[str, Any]:
    """Times one bilevel search step (architecture step + weight step) of an algorithm.

    Runs in the calling process, so `peak_rss_mb` (the process's `ru_maxrss`) is clean only
    when each measurement is its own process: run one `python -m launch.bench search_step`
    per algorithm (as the examples do). `peak_rss_mb` includes the transient memory of
    tracing and graph optimization; `step_peak_rss_mb` is the peak resident memory during
    the timed steps alone (Linux: freed heap trimmed and the peak mark reset after warm-up;
    null elsewhere). `step_peak_tensor_mb` is the peak of the bytes TensorFlow's CPU
    allocator holds for tensors during the timed steps (weights, optimizer slots,
    activations, temporaries; not the runtime, graph or Python heap): the counterpart of
    PyTorch's `torch.cuda.max_memory_allocated`, which is how single-path methods' memory
    savings are usually stated. It needs the BFC CPU allocator, which this function selects
    (`TF_CPU_ALLOCATOR_USE_BFC=true`) unless the environment says otherwise; null without
    it. Data are random images of the given size.

    `gflops_per_s` = FLOPs of one step / `step_seconds`, with the FLOPs of one step counted
    as 3 x (forward FLOPs at the batch size) per pass (backward ~ 2 x forward), times the
    passes of the step (2 for first-order methods: one on the validation batch, one on the
    training batch; `search_step_passes` of the algorithm if it says otherwise). The
    forward FLOPs are TensorFlow's profiler count of the supernet's forward graph at batch
    1; for single-path mixings, each `switch` branch is counted with probability
    1 / number of branches (the expected cost under near-uniform architecture weights).

    Args:
        config: Flag values: space, algorithm, batch_size, channels, layers, image_size,
            timed_steps, warmup_steps, grappler, step, seed, num_samples (ROME's K; 0 keeps
            the algorithm's default), bnas_rounds (BNAS: the op space after this many
            rounds, ops abandoned at random; 0: all ops).

    Returns:
        `{"benchmark", "algorithm", "space", "batch_size", "channels", "layers", "params",
        "step", "grappler", "compile_settings", "first_step_seconds", "step_seconds",
        "step_seconds_all", "peak_rss_mb", "step_peak_rss_mb", "step_peak_tensor_mb",
        "num_samples", "bnas_rounds", "step_seconds_per_sample", "forward_mflops_per_image",
        "gflops_per_s", "cpu", "cpu_vector_extensions", "kernel_library", "kernel_form"}`: every figure says
        where it was measured (the CPU model, its AVX / FMA / AMX extensions and whether
        TensorFlow ran its oneDNN or its Eigen kernels). The two FLOP figures are null for single-path mixings (GDAS, ROME):
        the profiler cannot count ops whose channel count depends on the sample.
        `compile_settings` is what `tfnas.runtime.configure()` applied (`TFNAS_TF_DEFAULTS=1`
        measures TensorFlow's defaults).

    Raises:
        ValueError: for non-positive step counts or an unknown algorithm.
    """
    # The BFC CPU allocator keeps the byte counts behind `step_peak_tensor_mb`; it must be
    # chosen before TensorFlow creates its CPU device (a caller's own setting wins).
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    from launch import _search_step_bench  # Imported here so `--help` stays fast.

    return _search_step_bench.run(config)


def augment_step(config: dict[str, Any]) -> dict[str, Any]:
    """Times one augmentation-search step (DDAS, PG, DAAS) against a plain training step.

    See `launch/_augment_step_bench.py`; returns `step_seconds` and `plain_step_seconds`.
    """
    from launch import _augment_step_bench  # Imported here so `--help` stays fast.

    return _augment_step_bench.run(config)


def search_data(config: dict[str, Any]) -> dict[str, Any]:
    """Peak RSS and images per second of a search's training data, streamed or in memory.

    See `launch/_search_data_bench.py`.
    """
    from launch import _search_data_bench  # Imported here so `--help` stays fast.

    return _search_data_bench.run(config)


#: Sub-command name -> function(config dict) -> JSON-able dict.
SUBCOMMANDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "input_pipeline": input_pipeline,
    "search_step": search_step,
    "augment_step": augment_step,
    "search_data": search_data,
}


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in SUBCOMMANDS:
        raise app.UsageError(
            f"Expected one sub-command, one of {sorted(SUBCOMMANDS)}. Received: {argv[1:]}"
        )
    from tfnas import runtime

    runtime.configure()  # before any tf.function compiles: see tfnas/runtime.py
    config = {
        "dataset": _DATASET.value,
        "data_dir": _DATA_DIR.value,
        "batch_size": _BATCH_SIZE.value,
        "num_batches": _NUM_BATCHES.value,
        "warmup_batches": _WARMUP_BATCHES.value,
        "augment": _AUGMENT.value,
        "cutout": _CUTOUT.value,
        "seed": _SEED.value,
        "space": _SPACE.value,
        "algorithm": _ALGORITHM.value,
        "channels": _CHANNELS.value,
        "layers": _LAYERS.value,
        "image_size": _IMAGE_SIZE.value,
        "timed_steps": _TIMED_STEPS.value,
        "warmup_steps": _WARMUP_STEPS.value,
        "grappler": _GRAPPLER.value,
        "num_samples": _NUM_SAMPLES.value,
        "bnas_rounds": _BNAS_ROUNDS.value,
        "step": _STEP.value,
        "method": _METHOD.value,
        "inner_product": _INNER_PRODUCT.value,
        "stream": {"default": None, "yes": True, "no": False}[_STREAM.value],
        "make_images": _MAKE_IMAGES.value,
        "max_train_examples": _MAX_TRAIN_EXAMPLES.value,
    }
    try:
        result = SUBCOMMANDS[argv[1]](config)
    except (ValueError, KeyError, FileNotFoundError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    app.run(main)
