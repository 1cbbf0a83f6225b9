"""The child-training recipe: loss terms, schedules, checkpoints, NaN guard."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnas.children import training
from tfnas.ops.drop_path import DropPath


def _tiny_child(auxiliary: bool = False) -> keras.Model:
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = DropPath(0.0, name="drop_path_0")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(3, name="classifier")(pooled)
    if not auxiliary:
        return keras.Model(inputs, logits)
    aux = keras.layers.Dense(3, name="aux_classifier")(pooled)
    return keras.Model(inputs, [logits, aux])


def _batches(n: int = 32, batch: int = 8, nan: bool = False) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    if nan:
        x[:] = np.nan
    y = rng.integers(0, 3, size=(n,)).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def test_loss_adds_auxiliary_and_coupled_l2():
    child = _tiny_child(auxiliary=True)
    task = training.ChildTask(child, auxiliary_weight=0.4, weight_decay=0.1)
    x, y = next(iter(_batches()))
    logits, aux = task(x, training=False)
    loss = float(task.compute_loss(x, y, (logits, aux), training=True))
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    l2 = sum(float(np.sum(np.square(v.numpy()))) for v in task.trainable_variables)
    expected = float(ce(y, logits)) + 0.4 * float(ce(y, aux)) + 0.05 * l2
    assert loss == pytest.approx(expected, rel=1e-5)
    # At evaluation neither the auxiliary term nor the L2 term counts.
    assert float(task.compute_loss(x, y, (logits, aux), training=False)) == pytest.approx(
        float(ce(y, logits)), rel=1e-5
    )


def test_label_smoothing_changes_loss():
    child = _tiny_child()
    x, y = next(iter(_batches()))
    logits = child(x)
    plain = training.ChildTask(child, weight_decay=0.0).compute_loss(x, y, logits)
    smooth = training.ChildTask(child, weight_decay=0.0, label_smoothing=0.1).compute_loss(x, y, logits)
    assert float(plain) != pytest.approx(float(smooth))


def test_drop_path_schedule_is_linear():
    child = _tiny_child()
    task = training.ChildTask(child)
    schedule = training.DropPathSchedule(0.3, epochs=10)
    schedule.set_model(task)
    schedule.on_epoch_begin(5)
    layer = child.get_layer("drop_path_0")
    assert float(layer.rate.numpy()) == pytest.approx(0.15)


def _compiled_task(auxiliary: bool = False) -> training.ChildTask:
    config = training.TrainConfig(genotype="unused", epochs=2, batch_size=8, learning_rate=0.1)
    task = training.ChildTask(_tiny_child(auxiliary), weight_decay=3e-4)
    task.compile(optimizer=training.make_optimizer(config, steps_per_epoch=4),
                 metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    task.build((None, 8, 8, 3))
    task.optimizer.build(task.trainable_variables)
    return task


def test_checkpoint_resume_restores_weights_and_optimizer(tmp_path):
    task = _compiled_task(auxiliary=True)
    ckpt = training.EpochCheckpoint(str(tmp_path))
    task.fit(_batches(), epochs=2, callbacks=[ckpt], verbose=0)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    fresh = _compiled_task(auxiliary=True)
    epoch = training.EpochCheckpoint(str(tmp_path)).restore(fresh)
    assert epoch == 2
    for a, b in zip(task.weights, fresh.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh.optimizer.iterations.numpy()) == int(task.optimizer.iterations.numpy()) == 8


def test_corrupt_checkpoint_is_reported_not_replaced(tmp_path):
    task = _compiled_task()
    task.fit(_batches(), epochs=1, callbacks=[training.EpochCheckpoint(str(tmp_path))], verbose=0)
    path = tmp_path / "epoch-0001.weights.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(training.CorruptCheckpointError, match="corrupt"):
        training.EpochCheckpoint(str(tmp_path)).restore(_compiled_task())
    assert path.read_bytes() == bytes(data)


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(tmp_path):
    task = _compiled_task()
    ckpt = training.EpochCheckpoint(str(tmp_path))
    task.fit(_batches(), epochs=1, callbacks=[ckpt], verbose=0)
    before = (tmp_path / "state.json").read_text()
    with pytest.raises(training.NonFiniteLossError, match="last good checkpoint"):
        task.fit(_batches(nan=True), epochs=2, initial_epoch=1,
                 callbacks=[training.NonFiniteLossGuard(), ckpt], verbose=0)
    assert (tmp_path / "state.json").read_text() == before
    assert os.path.exists(tmp_path / "epoch-0001.weights.h5")


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("batch_size", -1), ("learning_rate", 0.0), ("label_smoothing", 1.0),
     ("drop_path_rate", 1.0), ("mixed_precision", "float8"), ("ema_decay", 1.5)],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        training.TrainConfig(genotype="darts_v2", **{field: value})


def test_config_round_trip():
    config = training.TrainConfig(genotype="darts_v2", epochs=3, ema_decay=0.999)
    assert training.TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown TrainConfig fields"):
        training.TrainConfig.from_dict({**config.to_dict(), "lr": 1})


def test_train_and_score_leaves_nothing_behind_in_tensorflow():
    """Network after network (the standalone ranking reference, the multi-trial trainings):
    no traced function stays registered in the eager context and no gradient function in
    TensorFlow's registry (each kept a training graph alive for the life of the process)."""
    import keras
    import numpy as np
    from tensorflow.python.eager import context
    from tensorflow.python.framework import ops

    from tfnas.children.training import train_and_score

    rng = np.random.default_rng(0)
    x, y = rng.random((24, 8, 8, 3), dtype=np.float32), rng.integers(0, 10, 24)

    def once():
        keras.backend.clear_session()
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3), keras.layers.BatchNormalization(),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
        train_and_score(model, x[:16], y[:16], x[16:], y[16:], epochs=1, batch_size=8)

    once()
    functions, gradients = len(context.context().list_function_names()), len(ops._gradient_registry._registry)
    for _ in range(2):
        once()
    assert len(context.context().list_function_names()) == functions
    assert len(ops._gradient_registry._registry) == gradients


def _two_tasks(train, *, tasks: int = 2):
    """Runs `train(share, combine)` as `tasks` threads whose `combine` is a barrier sum (what the
    cluster's all-reduce returns to every task); returns each task's result."""
    import threading

    barrier, sent, results = threading.Barrier(tasks, timeout=300), [None] * tasks, [None] * tasks

    def task(position):
        def combine(values):
            sent[position] = np.array(values)
            barrier.wait()
            total = sum(sent)
            barrier.wait()
            return total

        results[position] = train((position, tasks), combine)

    threads = [threading.Thread(target=task, args=(k,)) for k in range(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("batch_norm", [False, True])
def test_sharded_training_applies_the_whole_batch_gradient_on_every_task(batch_norm):
    """Two tasks, each computing the gradient of half of every batch and summing at a barrier,
    end with identical weights (and BatchNorm statistics); without BatchNorm they equal the
    one-task run's to float tolerance (the sum of the halves is the whole batch's gradient),
    with it they differ from it by the per-task batch statistics only."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(80, 4, 4, 2)).astype("float32"), rng.integers(0, 3, size=80)

    def build():
        keras.utils.set_random_seed(3)
        inputs = keras.Input((4, 4, 2))
        h = keras.layers.Conv2D(4, 3, padding="same", use_bias=not batch_norm)(inputs)
        if batch_norm:
            h = keras.layers.BatchNormalization()(h)
        h = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(h))
        return keras.Model(inputs, keras.layers.Dense(3)(h))

    initial = build().get_weights()  # threads build concurrently: Keras's seeding is process-wide

    def train(share, combine):
        model = build()
        model.set_weights(initial)
        accuracy = training.train_and_score_sharded(model, x[:64], y[:64], x[64:], y[64:], share=share,
                                                    combine=combine, epochs=2, batch_size=16, learning_rate=0.05)
        return accuracy, [np.array(v) for v in model.variables]

    one_accuracy, one = train((0, 1), lambda values: values)
    (acc_a, a), (acc_b, b) = _two_tasks(train)
    assert acc_a == acc_b
    for va, vb in zip(a, b):
        np.testing.assert_array_equal(va, vb)
    moved = max(float(np.abs(v0 - v1).max()) for v0, v1 in zip(initial, one))
    assert moved > 1e-3  # it trained
    gap = max(float(np.abs(va - vo).max()) for va, vo in zip(a, one))
    if batch_norm:
        assert 1e-6 < gap < 0.1 * moved
    else:
        assert gap < 1e-5
    with pytest.raises(ValueError, match="one row per task"):
        training.train_and_score_sharded(build(), x[:64], y[:64], x[64:], y[64:], share=(0, 32),
                                         combine=lambda v: v, epochs=1, batch_size=16)
