"""FusedSGD computes Keras's SGD update exactly, with fewer graph ops.

Under `MirroredStrategy` and `MultiWorkerMirroredStrategy` it runs inside every search step
of `test_distributed.py` (`make_optimizers` builds it), which compares with one device.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnas.algorithms.optimizers import FusedSGD


def _run(optimizer_class, nesterov, momentum, variables, gradients):
    weights = [keras.Variable(v) for v in variables]
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=6)
    optimizer = optimizer_class(schedule, momentum=momentum, nesterov=nesterov)
    optimizer.build(weights)

    @tf.function
    def step(grads):
        optimizer.apply_gradients(zip(grads, weights))

    for grads in gradients:
        step([tf.constant(g) for g in grads])
    ops = len(step.get_concrete_function([tf.constant(g) for g in gradients[0]]).graph.get_operations())
    return [w.numpy() for w in weights], [m.numpy() for m in optimizer.momentums], ops


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fused_sgd_equals_keras_sgd(nesterov, momentum):
    rng = np.random.default_rng(0)
    variables = [rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(5,)).astype(np.float32)]
    gradients = [[rng.normal(size=v.shape).astype(np.float32) for v in variables] for _ in range(5)]
    fused, fused_slots, fused_ops = _run(FusedSGD, nesterov, momentum, variables, gradients)
    plain, plain_slots, plain_ops = _run(keras.optimizers.SGD, nesterov, momentum, variables, gradients)
    for a, b in zip(fused + fused_slots, plain + plain_slots):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(fused[0], variables[0])  # the weights moved
    if momentum:
        assert fused_ops < plain_ops


def test_fused_sgd_round_trips_through_its_config():
    optimizer = FusedSGD(0.05, momentum=0.9, nesterov=True)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, FusedSGD)
    assert restored.get_config() == optimizer.get_config()
