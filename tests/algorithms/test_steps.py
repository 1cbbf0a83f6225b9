"""One bilevel step per algorithm on a tiny stand-in supernet: what moves, and what does not."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.algorithms.standin import bilevel_batch, make_search, snapshot
from tfnas.algorithms import ALGORITHMS

NAMES = ["darts", "darts2", "darts_minus", "pc_darts", "gdas", "rome"]


def _changed(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after)]


def _dataset(seed=0):
    (xt, yt), (xv, yv) = bilevel_batch(seed=seed)
    return tf.data.Dataset.from_tensors(((xt, yt), (xv, yv))).repeat()


@pytest.mark.parametrize("name", NAMES)
def test_one_step_moves_weights_and_architecture(name):
    search = make_search(name, arch_warmup_epochs=0, num_samples=2)
    weights0 = snapshot(search.supernet.weight_variables)
    arch0 = snapshot(search.supernet.arch_variables)
    history = search.fit(_dataset(), epochs=1, steps_per_epoch=1, verbose=0, callbacks=search.callbacks())
    moved = _changed(weights0, snapshot(search.supernet.weight_variables))
    if name in ("gdas", "rome"):  # An op never sampled keeps a zero bias (zero gradient, zero decay).
        assert sum(moved) >= len(moved) - 1
    else:
        assert all(moved)
    assert all(_changed(arch0, snapshot(search.supernet.arch_variables)))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert np.isfinite(history.history["loss"][0]) and history.history["val_loss"][0] > 0
    assert int(search.weight_optimizer.iterations) == 1 and int(search.arch_optimizer.iterations) == 1


def test_pc_darts_warmup_freezes_architecture_then_releases_it():
    search = make_search("pc_darts", arch_warmup_epochs=2, epochs=3)
    assert search.config.arch_warmup_epochs == 2
    arch0 = snapshot(search.supernet.arch_variables)
    weights0 = snapshot(search.supernet.weight_variables)
    search.fit(_dataset(), epochs=2, steps_per_epoch=2, verbose=0, callbacks=search.callbacks())
    assert not any(_changed(arch0, snapshot(search.supernet.arch_variables)))
    assert all(_changed(weights0, snapshot(search.supernet.weight_variables)))
    assert int(search.arch_optimizer.iterations) == 0 and float(search.arch_enabled) == 0.0
    history = search.fit(_dataset(), initial_epoch=2, epochs=3, steps_per_epoch=2, verbose=0,
                         callbacks=search.callbacks())
    assert all(_changed(arch0, snapshot(search.supernet.arch_variables)))
    assert int(search.arch_optimizer.iterations) == 2 and float(search.arch_enabled) == 1.0
    assert history.history["val_loss"][0] > 0


@pytest.mark.parametrize("name", ["darts", "gdas", "rome"])
def test_each_optimizer_touches_only_its_group(name):
    search = make_search(name, num_samples=2)
    (xt, yt), (xv, yv) = bilevel_batch()
    weights0 = snapshot(search.supernet.weight_variables)
    arch0 = snapshot(search.supernet.arch_variables)
    tf.function(search.arch_step)(xt, yt, xv, yv)
    assert not any(_changed(weights0, snapshot(search.supernet.weight_variables)))
    arch1 = snapshot(search.supernet.arch_variables)
    assert all(_changed(arch0, arch1))
    tf.function(search.weight_step)(xt, yt)
    assert any(_changed(weights0, snapshot(search.supernet.weight_variables)))
    assert not any(_changed(arch1, snapshot(search.supernet.arch_variables)))
    # Optimizer state exists only for the optimizer's own group.
    arch_shapes = sorted(tuple(v.shape) for v in search.supernet.arch_variables)
    slot_shapes = sorted({tuple(v.shape) for v in search.arch_optimizer.variables if len(v.shape)})
    assert slot_shapes == sorted(set(arch_shapes))
    assert [tuple(m.shape) for m in search.weight_optimizer.momentums] == [
        tuple(v.shape) for v in search.supernet.weight_variables]


def test_weight_step_matches_pytorch_style_sgd_with_clip_and_coupled_decay():
    search = make_search("darts", grad_clip=0.01, weight_decay=0.1, momentum=0.0)
    (xt, yt), _ = bilevel_batch()
    variables = search.supernet.weight_variables
    w0 = snapshot(variables)
    with tf.GradientTape() as tape:
        logits = search.supernet(xt, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(yt, logits, from_logits=True))
    grads = tape.gradient(loss, variables)
    clipped, _ = tf.clip_by_global_norm(grads, 0.01)
    lr = float(search.weight_optimizer.learning_rate)
    expected = [w - lr * (g.numpy() + 0.1 * w) for w, g in zip(w0, clipped)]
    search.weight_step(xt, yt)
    for e, got in zip(expected, snapshot(variables)):
        np.testing.assert_allclose(got, e, rtol=1e-5, atol=1e-7)


def test_arch_step_adds_coupled_decay_before_adam():
    search = make_search("darts", arch_weight_decay=100.0)
    (xt, yt), (xv, yv) = bilevel_batch()
    alpha = search.supernet.arch_variables[0]
    a0 = snapshot([alpha])[0]
    grads, _, _ = search.arch_gradients(xt, yt, xv, yv)
    g = grads[0].numpy() + 100.0 * a0
    # First Adam step: update = lr * m_hat / (sqrt(v_hat) + eps) = lr * sign(g) (up to eps).
    search.apply_arch_gradients(grads)
    np.testing.assert_allclose(snapshot([alpha])[0], a0 - 3e-4 * np.sign(g), rtol=0, atol=1e-8)


def test_darts_minus_requires_aux_skip_supernet():
    from tests.algorithms.standin import StandInSupernet

    class NoBeta(StandInSupernet):
        pass

    net = NoBeta()
    net.aux_skip_beta = None
    with pytest.raises(ValueError, match="aux_skip"):
        ALGORITHMS.get("darts_minus")(net)


def test_gdas_rejects_second_order():
    from tests.algorithms.standin import StandInSupernet

    with pytest.raises(ValueError, match="order=2"):
        ALGORITHMS.get("gdas")(StandInSupernet(mixing="gumbel"), ALGORITHMS.get("gdas").default_config().replace(order=2))
