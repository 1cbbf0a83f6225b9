"""The work behind `python -m launch.bench augment_step --method=ddas|pg|daas` (flags live in `bench.py`).

Builds the augmentation search of `--method` at the requested size (`--channels`,
`--layers` cells per stage of the NAS-Bench-201 network or supernet, `--batch_size`,
`--image_size`), traces its `train_step` as one `tf.function`, and times it against a plain
training step of the SAME network on the SAME batch: forward, backward, global-norm clip,
SGD with momentum (for DAAS the network is the Gumbel supernet, one sampled path, as in its
weight step). The two are timed alternately (plain, search, plain, search, ...) so a change
in machine load hits both alike; the medians are reported. Data are random images in the
normalised range (the step's cost does not depend on the pixels), labels random.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any


def run(config: dict[str, Any]) -> dict[str, Any]:
    """Times one augmentation-search step and one plain training step.

    Args:
        config: Flag values: method, inner_product (DDAS; default exact), batch_size, channels,
            layers, image_size, timed_steps, warmup_steps, seed.

    Returns:
        `{"benchmark", "method", "inner_product", "batch_size", "channels", "layers", "image_size", "params",
        "step_seconds", "plain_step_seconds", "ratio", "step_seconds_min", "plain_step_seconds_min",
        "ratio_min", "first_step_seconds",
        "first_plain_step_seconds", "step_seconds_all", "plain_step_seconds_all",
        "load_average"}`.

    Raises:
        ValueError: for an unknown method or non-positive step counts.
    """
    import keras
    import tensorflow as tf

    from tfnas.algorithms.augment_runner import build_augment_search
    from tfnas.algorithms.augment_search import METHODS, AugmentSearchConfig

    method = config["method"]
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}. Received: method={method!r}")
    if config["timed_steps"] < 1 or config["warmup_steps"] < 0:
        raise ValueError(
            f"timed_steps must be >= 1 and warmup_steps >= 0. Received: timed_steps={config['timed_steps']}, "
            f"warmup_steps={config['warmup_steps']}")
    size, batch = int(config["image_size"]), int(config["batch_size"])
    search_config = AugmentSearchConfig(method=method, channels=config["channels"], layers=config["layers"],
                                        batch_size=batch, seed=config["seed"],
                                        inner_product=config.get("inner_product", "exact"))
    search = build_augment_search(search_config, (size, size, 3), 10, steps_per_epoch=1000, dataset="cifar10")
    network = search.supernet if method == "daas" else search.network
    variables = list(network.weight_variables) if method == "daas" else list(network.trainable_variables)

    rng = tf.random.Generator.from_seed(config["seed"])
    x_train = rng.uniform([batch, size, size, 3], -2.0, 2.0)
    x_val = rng.uniform([batch, size, size, 3], -2.0, 2.0)
    y_train = rng.uniform([batch], 0, 10, dtype=tf.int32)
    y_val = rng.uniform([batch], 0, 10, dtype=tf.int32)
    data = ((x_train, y_train), (x_val, y_val))

    search_step = tf.function(search.train_step)
    plain_optimizer = keras.optimizers.SGD(0.05, momentum=0.9)
    plain_optimizer.build(variables)

    @tf.function
    def plain_step(images, labels):
        with tf.GradientTape() as tape:
            logits = network(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        grads, _ = tf.clip_by_global_norm(grads, 5.0)
        plain_optimizer.apply(grads, variables)
        return loss

    def timed(fn) -> float:
        start = time.perf_counter()
        out = fn()
        keras.tree.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)
        return time.perf_counter() - start

    first_plain = timed(lambda: plain_step(x_train, y_train))
    first_step = timed(lambda: search_step(data))
    for _ in range(config["warmup_steps"]):
        timed(lambda: plain_step(x_train, y_train))
        timed(lambda: search_step(data))
    plain_all, step_all = [], []
    for _ in range(config["timed_steps"]):
        plain_all.append(timed(lambda: plain_step(x_train, y_train)))
        step_all.append(timed(lambda: search_step(data)))
    step_seconds = statistics.median(step_all)
    plain_seconds = statistics.median(plain_all)
    return {
        "benchmark": "augment_step",
        "method": method,
        "inner_product": search_config.inner_product,
        "batch_size": batch,
        "channels": config["channels"],
        "layers": config["layers"],
        "image_size": size,
        "params": int(sum(int(tf.size(v)) for v in variables)),
        "step_seconds": round(step_seconds, 4),
        "plain_step_seconds": round(plain_seconds, 4),
        "ratio": round(step_seconds / plain_seconds, 3),
        # Under CPU contention the medians are noisy; the minima are the least-disturbed steps.
        "step_seconds_min": round(min(step_all), 4),
        "plain_step_seconds_min": round(min(plain_all), 4),
        "ratio_min": round(min(step_all) / min(plain_all), 3),
        "first_step_seconds": round(first_step, 3),
        "first_plain_step_seconds": round(first_plain, 3),
        "step_seconds_all": [round(s, 4) for s in step_all],
        "plain_step_seconds_all": [round(s, 4) for s in plain_all],
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
