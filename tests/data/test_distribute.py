"""Per-replica batching under tf.distribute.MirroredStrategy over two logical CPU devices.

Logical devices must be configured before TensorFlow initializes its devices, so the check
runs in a fresh Python process and reports back one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import tensorflow as tf

from tfnas import data

_SCRIPT = textwrap.dedent(
    """
    import json
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    import keras
    from tfnas import data

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    train, _ = data.load_splits("digits", image_size=8)
    out = {"replicas": strategy.num_replicas_in_sync}
    try:
        data.distribute_train_dataset(strategy, train, 33, dataset="digits")
    except ValueError as error:
        out["error"] = str(error)

    dist = data.distribute_train_dataset(strategy, train, 32, dataset="digits", repeat=True)
    x, y = next(iter(dist))
    out["train_shapes"] = [list(t.shape) for t in strategy.experimental_local_results(x)]
    labels = [t.numpy().tolist() for t in strategy.experimental_local_results(y)]
    out["train_labels_differ"] = labels[0] != labels[1]

    bilevel = data.distribute_bilevel_dataset(strategy, train, 16, dataset="digits", seed=3)
    one = iter(data.make_bilevel_dataset(train, 16, dataset="digits", seed=3))
    same = True
    for step, ((xt, yt), (xv, yv)) in zip(range(3), bilevel):
        (ot, oyt), (ov, oyv) = next(one)
        for got, want in ((xt, ot), (yt, oyt), (xv, ov), (yv, oyv)):
            local = tf.concat(strategy.experimental_local_results(got), axis=0)
            same = same and bool(tf.reduce_all(local == want))
    out["bilevel_same_as_one_device"] = same
    out["bilevel_shapes"] = [list(t.shape) for t in strategy.experimental_local_results(xt)] + [
        list(t.shape) for t in strategy.experimental_local_results(xv)
    ]
    sharded = data.distribute_bilevel_dataset(strategy, train, 16, dataset="digits", seed=3, same_as_one_device=False)
    (st, _), _ = next(iter(sharded))
    out["sharded_shapes"] = [list(t.shape) for t in strategy.experimental_local_results(st)]

    with strategy.scope():
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
        model.compile(
            optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
    history = model.fit(dist, epochs=1, steps_per_epoch=3, verbose=0)
    out["fit_loss_finite"] = bool(all(l == l for l in history.history["loss"]))
    print(json.dumps(out))
    """
)


def test_per_replica_batching_with_mirrored_strategy():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=600, cwd=root
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert "global_batch_size" in out["error"] and "33" in out["error"]
    assert out["train_shapes"] == [[16, 8, 8, 3], [16, 8, 8, 3]]
    assert out["train_labels_differ"]
    assert out["bilevel_shapes"] == [[8, 8, 8, 3]] * 4
    assert out["bilevel_same_as_one_device"]  # replica r holds rows [8r, 8r + 8) of the one-device batch
    assert out["sharded_shapes"] == [[8, 8, 8, 3]] * 2
    assert out["fit_loss_finite"]


def test_per_replica_batch_size_default_strategy():
    strategy = tf.distribute.get_strategy()
    assert data.per_replica_batch_size(strategy, 128) == 128
