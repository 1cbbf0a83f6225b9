"""`python -m launch.bench search_data`: the memory and speed of a search's training data.

Loads the training set as a search does (`tfnas.algorithms.runner.load_training_set`),
draws one epoch of the bilevel pipeline (`make_bilevel_dataset`, the weights part's steps)
and reports the process's peak RSS before loading, after loading and after the epoch, and
images per second. `--stream=yes|no` overrides the dataset's default (the user's
folders and tfds data stream from disk, the built-in sets are held in memory), so the same
folder can be measured both ways. `--make_images=N` first writes N synthetic PNG images
(`--image_size` square, 10 classes, noise around a per-class colour) into the `--dataset`
folder, unless it already holds them.
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _make_images(root: str, count: int, side: int) -> None:
    import numpy as np
    import tensorflow as tf

    classes = 10
    if sum(len(files) for _, _, files in os.walk(root)) >= count:
        return
    rng = np.random.default_rng(0)
    for i in range(count):
        label = i % classes
        folder = os.path.join(root, f"class{label}")
        os.makedirs(folder, exist_ok=True)
        image = np.clip(rng.normal(25 * label, 40, (side, side, 3)), 0, 255).astype(np.uint8)
        tf.io.write_file(os.path.join(folder, f"{i:07d}.png"), tf.io.encode_png(image))


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Returns `{"benchmark", "dataset", "images", "image_shape", "stream", "shuffle_buffer",
    "peak_rss_mb_before_load", "peak_rss_mb_after_load", "peak_rss_mb_after_epoch",
    "epoch_steps", "epoch_seconds", "images_per_second"}`."""
    from tfnas.algorithms.runner import load_training_set
    from tfnas.data import bilevel_steps_per_epoch, get_dataset_spec, make_bilevel_dataset
    from tfnas.data.pipeline import _shuffle_buffer

    name = config["dataset"]
    if config["make_images"]:
        _make_images(name, config["make_images"], config["image_size"])
    spec = get_dataset_spec(name)  # a folder is scanned (and cached) here, before the baseline
    before = _peak_rss_mb()
    stream = config["stream"]  # None: the dataset's default
    ds, n, shape, _ = load_training_set(name, config["data_dir"], config["max_train_examples"], None, stream=stream)
    after_load = _peak_rss_mb()
    batch = config["batch_size"]
    batches = make_bilevel_dataset(ds, batch, dataset=name, seed=config["seed"])
    steps = bilevel_steps_per_epoch(n, batch)
    start = time.perf_counter()
    images = 0
    for (x, _), _ in batches.take(steps):
        images += int(x.shape[0])
    seconds = time.perf_counter() - start
    streamed = (not spec.in_memory) if stream is None else stream
    return {
        "benchmark": "search_data", "dataset": name, "images": n, "image_shape": list(shape), "stream": streamed,
        "shuffle_buffer": _shuffle_buffer(ds.take(n // 2), None, name),
        "peak_rss_mb_before_load": round(before, 1), "peak_rss_mb_after_load": round(after_load, 1),
        "peak_rss_mb_after_epoch": round(_peak_rss_mb(), 1), "epoch_steps": steps,
        "epoch_seconds": round(seconds, 2), "images_per_second": round(2 * images / seconds, 1),
    }
