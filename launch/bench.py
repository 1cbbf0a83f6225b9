"""Benchmarks, one sub-command each; the last line printed is one JSON object.

Usage:
    python -m launch.bench input_pipeline --dataset=cifar10 --batch_size=128
    python -m launch.bench input_pipeline --dataset=digits --noaugment

Sub-commands are the functions in `SUBCOMMANDS` (name -> function taking the parsed flag
values as a dict and returning the JSON-able result); add one by writing a function and
an entry there.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from absl import app, flags

_DATASET = flags.DEFINE_string("dataset", "cifar10", "Registered dataset name (cifar10, digits).")
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Shared data folder holding cifar10/ (default: $TFNAS_DATA_DIR)."
)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Batch size of the timed pipeline.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 200, "Batches timed after the warm-up.")
_WARMUP_BATCHES = flags.DEFINE_integer("warmup_batches", 20, "Batches drawn before timing starts.")
_AUGMENT = flags.DEFINE_boolean("augment", True, "Time the augmented (crop/flip/cutout) pipeline.")
_CUTOUT = flags.DEFINE_integer("cutout", 16, "Cutout square side (0 disables).")
_SEED = flags.DEFINE_integer("seed", 0, "Pipeline seed.")


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


#: Sub-command name -> function(config dict) -> JSON-able dict.
SUBCOMMANDS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "input_pipeline": input_pipeline,
}


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in SUBCOMMANDS:
        raise app.UsageError(
            f"Expected one sub-command, one of {sorted(SUBCOMMANDS)}. Received: {argv[1:]}"
        )
    config = {
        "dataset": _DATASET.value,
        "data_dir": _DATA_DIR.value,
        "batch_size": _BATCH_SIZE.value,
        "num_batches": _NUM_BATCHES.value,
        "warmup_batches": _WARMUP_BATCHES.value,
        "augment": _AUGMENT.value,
        "cutout": _CUTOUT.value,
        "seed": _SEED.value,
    }
    result = SUBCOMMANDS[argv[1]](config)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    app.run(main)
