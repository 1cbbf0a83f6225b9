"""Schedule callbacks set their variables at every epoch start (including a resumed one)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.algorithms.standin import bilevel_batch, make_search
from tfnas.algorithms import ArchWarmup, BetaSchedule, TemperatureSchedule


def test_temperature_linear_from_max_to_min_over_epochs():
    schedule = TemperatureSchedule(epochs=5, tau_max=10.0, tau_min=0.1)
    assert [schedule.value(e) for e in range(5)] == pytest.approx([10.0, 7.525, 5.05, 2.575, 0.1])
    with pytest.raises(ValueError, match="tau_min"):
        TemperatureSchedule(epochs=5, tau_max=1.0, tau_min=2.0)


def test_beta_linear_and_cosine():
    linear = BetaSchedule(epochs=4)
    cosine = BetaSchedule(epochs=4, mode="cosine")
    assert [linear.value(e) for e in range(4)] == pytest.approx([1.0, 0.75, 0.5, 0.25])
    assert [cosine.value(e) for e in range(4)] == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
    with pytest.raises(ValueError, match="mode='step'"):
        BetaSchedule(epochs=4, mode="step")


class _Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        net = self.model.supernet
        self.seen.append((float(net.temperature.numpy()), float(net.aux_skip_beta.numpy()),
                          float(self.model.arch_enabled.numpy())))


@pytest.mark.parametrize("name", ["gdas", "darts_minus", "pc_darts"])
def test_callbacks_set_variables_at_epoch_start(name):
    search = make_search(name, epochs=4, arch_warmup_epochs=2 if name == "pc_darts" else 0)
    (xt, yt), (xv, yv) = bilevel_batch()
    ds = tf.data.Dataset.from_tensors(((xt, yt), (xv, yv))).repeat()
    record = _Record()
    search.fit(ds, epochs=2, steps_per_epoch=1, verbose=0, callbacks=search.callbacks() + [record])
    search.fit(ds, initial_epoch=2, epochs=4, steps_per_epoch=1, verbose=0, callbacks=search.callbacks() + [record])
    tau, beta, enabled = (np.array(x) for x in zip(*record.seen))
    if name == "gdas":
        np.testing.assert_allclose(tau, [10.0, 6.7, 3.4, 0.1], rtol=1e-6)
    if name == "darts_minus":
        np.testing.assert_allclose(beta, [1.0, 0.75, 0.5, 0.25], rtol=1e-6)
    if name == "pc_darts":
        np.testing.assert_array_equal(enabled, [0.0, 0.0, 1.0, 1.0])
    kinds = {type(c) for c in search.callbacks()}
    assert kinds == {"gdas": {TemperatureSchedule}, "darts_minus": {BetaSchedule},
                     "pc_darts": {ArchWarmup}}[name]
