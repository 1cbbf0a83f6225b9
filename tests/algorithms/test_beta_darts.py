"""beta-DARTS: the Beta-Decay term's gradient, its schedule, and a search step that applies it."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfnas.algorithms import SearchConfig, build_search
from tfnas.algorithms.beta_darts import BetaDarts, BetaDecaySchedule, beta_decay_gradients


def test_the_analytic_gradient_is_that_of_the_mean_logsumexp_over_all_edges():
    rng = np.random.default_rng(0)
    logits = [tf.Variable(rng.normal(size=(6, 5)).astype(np.float32)),
              tf.Variable(rng.normal(size=(4, 3)).astype(np.float32))]
    with tf.GradientTape() as tape:
        lses = tf.concat([tf.reduce_logsumexp(v, axis=-1) for v in logits], axis=0)
        loss = 7.0 * tf.reduce_mean(lses)
    expected = tape.gradient(loss, logits)
    for got, want in zip(beta_decay_gradients(logits, 7.0), expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_the_weight_rises_linearly_to_its_maximum():
    schedule = BetaDecaySchedule(100, 50.0)
    assert [schedule.value(e) for e in (0, 1, 50, 99)] == [0.0, 0.5, 25.0, 49.5]  # the code's 50 * epoch / 100
    assert BetaDecaySchedule(4, 8.0).value(2) == 4.0
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        BetaDecaySchedule(0, 1.0)
    with pytest.raises(ValueError, match="beta_decay_max must be >= 0"):
        SearchConfig(beta_decay_max=-1.0)


def _search(weight: float) -> BetaDarts:
    config = BetaDarts.default_config("nb201")
    config = SearchConfig.from_dict({**config.to_dict(), "epochs": 2, "batch_size": 4, "channels": 4, "layers": 1,
                                     "arch_weight_decay": 0.0})
    search = build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=1)
    search.beta_decay_weight.assign(weight)
    return search


def test_a_step_adds_the_regularisation_to_the_architecture_gradient():
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(4, 8, 8, 3)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 4).astype(np.int32))
    search = _search(0.0)
    search.supernet.op_logit_variables[0].assign(np.tile(np.arange(5, dtype=np.float32), (6, 1)))
    g0, _, _ = search.arch_gradients(x, y, x, y)
    search.beta_decay_weight.assign(30.0)
    g1, _, _ = search.arch_gradients(x, y, x, y)
    alpha = np.tile(np.arange(5, dtype=np.float32), (6, 1))
    softmax = np.exp(alpha) / np.exp(alpha).sum(-1, keepdims=True)
    np.testing.assert_allclose(g1[0].numpy() - g0[0].numpy(), 30.0 * softmax / 6.0, rtol=1e-4, atol=1e-5)
    assert BetaDecaySchedule in {type(c) for c in search.callbacks()}
