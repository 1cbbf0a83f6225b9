"""Subprocess entry point of the distributed tests: one step under a strategy, results as JSON/npz.

    python -m tests.algorithms.distributed_worker mirrored OUT.json NAME [NAME ...]
        Sets two logical CPU devices, runs one bilevel step of each algorithm on one device
        and under a `MirroredStrategy` over the two, and writes the largest differences.
    python -m tests.algorithms.distributed_worker multiworker OUT.npz NAME
        One worker of a `MultiWorkerMirroredStrategy` (cluster from `TF_CONFIG`): runs one
        step on its half of the global batch and writes the updated variables.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

GLOBAL_BATCH = 4


def _one_step(search, dataset) -> None:
    search.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, callbacks=search.callbacks())


def _variables(search) -> list[np.ndarray]:
    from tests.algorithms.standin import snapshot

    return snapshot(search.supernet.weight_variables) + snapshot(search.supernet.arch_variables)


def mirrored(out: str, names: list[str]) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from tests.algorithms.standin import bilevel_batch, make_search

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = bilevel_batch(batch=GLOBAL_BATCH)
    results = {}
    for name in names:
        # A small clip threshold makes clipping active: it must act on the replica-summed gradient.
        overrides = {"num_samples": 2, "arch_warmup_epochs": 0, "grad_clip": 0.05}
        keras.utils.set_random_seed(0)
        single = make_search(name, **overrides)
        _one_step(single, tf.data.Dataset.from_tensors(data).repeat())
        keras.utils.set_random_seed(0)
        with strategy.scope():
            multi = make_search(name, **overrides)
        assert multi.supernet.weight_variables[0].value.__class__.__name__.startswith("Mirrored")
        _one_step(multi, tf.data.Dataset.from_tensors(data).repeat())
        start = [np.asarray(v) for v in _variables(make_search(name, **overrides))]
        a, b = _variables(single), _variables(multi)
        results[name] = {
            "max_abs_diff": max(float(np.abs(x - y).max()) for x, y in zip(a, b)),
            "weight_update": max(float(np.abs(x - s).max()) for x, s in zip(a[:-1], start[:-1])),
            "arch_update": float(np.abs(a[-1] - start[-1]).max()),
            "replicas": strategy.num_replicas_in_sync,
        }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f)


def multiworker(out: str, name: str) -> None:
    import keras

    keras.config.disable_traceback_filtering()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    from tests.algorithms.standin import bilevel_batch, make_search

    (xt, yt), (xv, yv) = bilevel_batch(batch=GLOBAL_BATCH)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per = context.get_per_replica_batch_size(GLOBAL_BATCH)
        lo = context.input_pipeline_id * per
        part = ((xt[lo:lo + per], yt[lo:lo + per]), (xv[lo:lo + per], yv[lo:lo + per]))
        return tf.data.Dataset.from_tensors(part).repeat()

    with strategy.scope():
        search = make_search(name, num_samples=2, arch_warmup_epochs=0, grad_clip=0.05)
    _one_step(search, strategy.distribute_datasets_from_function(dataset_fn))
    np.savez(out, *_variables(search), replicas=strategy.num_replicas_in_sync)


if __name__ == "__main__":
    mode, out, *names = sys.argv[1:]
    if mode == "mirrored":
        mirrored(out, names)
    else:
        multiworker(out, names[0])
