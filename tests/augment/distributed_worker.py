"""Subprocess entry point of the distributed augmentation-search test: steps under a strategy, results as JSON.

    python -m tests.augment.distributed_worker OUT.json METHOD [METHOD ...]
        Sets two logical CPU devices, runs two steps of each search (ddas, pg, daas) on one
        device and under a `MirroredStrategy` over the two with the same global batches and
        seed, and writes the largest differences of the variables and how far they moved.

Networks without BatchNorm (its batch statistics are per replica), the full DDAS policy space
(52 entries, both stages), cutout on. Each method runs twice: with a small clip threshold, so
that clipping is active (it must act on the replica-summed gradient), and without clipping;
the policy takes plain SGD steps in both (Adam's and the clip's normalisation would hide a
gradient off by a factor, e.g. one not summed or summed twice over the replicas).
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

GLOBAL_BATCH = 8
STEPS = 2  # REINFORCE's first advantage is 0: the second step moves the policy
_STATS = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def _config(method: str, grad_clip: float):
    from tfnas.algorithms.augment_search import AugmentSearchConfig

    return AugmentSearchConfig(method=method, batch_size=GLOBAL_BATCH, grad_clip=grad_clip, cutout=4, channels=4,
                               seed=3)


def make_search(method: str, grad_clip: float):
    """The search of `method` on a small network without BatchNorm, built in the current strategy's scope."""
    import keras

    from tfnas.algorithms import augment_runner  # noqa: F401  registers the three methods
    from tfnas.algorithms.augment_search import AUGMENT_SEARCHES, AugmentPolicy
    from tfnas.algorithms.factory import make_optimizers

    keras.utils.set_random_seed(2)
    config = _config(method, grad_clip)
    policy = AugmentPolicy(stages=2, apply_init=0.6)
    if method == "daas":
        from tests.algorithms.standin import StandInSupernet

        search = AUGMENT_SEARCHES.get(method)(StandInSupernet(mixing="gumbel", num_classes=10, seed=1), policy,
                                              config, *_STATS)
        search.compile(*make_optimizers(config.search_config(), STEPS))
    else:
        init = keras.initializers.GlorotUniform(seed=4)
        network = keras.Sequential([
            keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, kernel_initializer=init), keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, kernel_initializer=init)])
        search = AUGMENT_SEARCHES.get(method)(network, policy, config, *_STATS)
        search.compile(make_optimizers(config.search_config(), STEPS)[0])
    search.policy_optimizer = keras.optimizers.SGD(1.0, name="policy_optimizer")
    search.apply_optimizer = keras.optimizers.SGD(1.0, name="apply_optimizer")
    search.build((None, 8, 8, 3))
    search.build_optimizers()
    return search


def global_batches() -> tf.data.Dataset:
    """`STEPS` different global bilevel batches of `GLOBAL_BATCH` normalised 8x8 images."""
    rng = np.random.default_rng(0)

    def part():
        x = np.clip(rng.normal(size=(STEPS, GLOBAL_BATCH, 8, 8, 3)), -2.0, 2.0).astype("float32")
        return x, rng.integers(0, 10, size=(STEPS, GLOBAL_BATCH)).astype("int32")

    return tf.data.Dataset.from_tensor_slices((part(), part()))


def variables(search) -> dict[str, np.ndarray]:
    """Weights, policy, baseline (and architecture) after the steps, by name."""
    from tests.algorithms.standin import snapshot

    weights = search.supernet.weight_variables if search.method == "daas" else search.weight_variables
    named = {f"weight{i}": v for i, v in enumerate(snapshot(weights))}
    named.update(logits=snapshot([search.policy.logits])[0], apply=snapshot([search.policy.apply_logit])[0],
                 baseline=snapshot([search.baseline])[0])
    if search.method == "daas":
        named.update({f"arch{i}": v for i, v in enumerate(snapshot(search.supernet.arch_variables))})
    return named


def run(search, strategy=None) -> dict[str, np.ndarray]:
    from tfnas.data import distribute_global_batches

    data = global_batches() if strategy is None else distribute_global_batches(strategy, GLOBAL_BATCH, global_batches)
    callbacks = search.callbacks() if search.method == "daas" else []
    search.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0, callbacks=callbacks)
    return variables(search)


def main(out: str, methods: list[str]) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for method, grad_clip in ((m, c) for m in methods for c in (0.05, 0.0)):
        start = variables(make_search(method, grad_clip))
        single = run(make_search(method, grad_clip))
        with strategy.scope():
            multi_search = make_search(method, grad_clip)
        assert type(multi_search.policy.logits.value).__name__.startswith("Mirrored")
        multi = run(multi_search, strategy)
        results[f"{method}/clip{grad_clip}"] = {
            "replicas": strategy.num_replicas_in_sync,
            "diff": {k: float(np.abs(single[k] - multi[k]).max()) for k in single},
            "moved": {k: float(np.abs(single[k] - start[k]).max()) for k in single},
            "scale": {k: float(np.abs(single[k]).max()) for k in single},
        }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
