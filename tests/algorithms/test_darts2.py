"""Second-order DARTS: exact restore of the weights, and the hypergradient against autodiff."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tests.algorithms.standin import bilevel_batch, make_search, snapshot


def _warm(search):
    """One real step so the momentum slots are non-zero."""
    (xt, yt), (xv, yv) = bilevel_batch(seed=1)
    ds = tf.data.Dataset.from_tensors(((xt, yt), (xv, yv))).repeat()
    search.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)


def test_virtual_step_restores_weights_exactly():
    search = make_search("darts2")
    _warm(search)
    (xt, yt), (xv, yv) = bilevel_batch()
    weights0 = snapshot(search.supernet.weight_variables)
    arch0 = snapshot(search.supernet.arch_variables)
    grads, _, _ = tf.function(search.arch_gradients)(xt, yt, xv, yv)
    for before, after in zip(weights0, snapshot(search.supernet.weight_variables)):
        assert np.array_equal(before, after)  # Bitwise.
    for before, after in zip(arch0, snapshot(search.supernet.arch_variables)):
        assert np.array_equal(before, after)
    first_order, _, _ = search.gradients(xv, yv, search.supernet.arch_variables)
    assert not np.allclose(grads[0].numpy(), first_order[0].numpy(), rtol=1e-3, atol=0)


def _loss(supernet, trainable_values, images, labels):
    non_trainable = [v.value for v in supernet.non_trainable_variables]
    logits, _ = supernet.stateless_call(trainable_values, non_trainable, images, training=True)
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def test_hypergradient_matches_autodiff_through_the_unrolled_step():
    search = make_search("darts2", weight_decay=3e-4, momentum=0.9, learning_rate=0.5)
    _warm(search)
    net = search.supernet
    (xt, yt), (xv, yv) = bilevel_batch()
    trainable = list(net.trainable_variables)
    is_arch = [any(v is a for a in net.arch_variables) for v in trainable]
    values = [tf.constant(keras.ops.convert_to_numpy(v)) for v in trainable]
    opt = search.weight_optimizer
    xi = float(opt.learning_rate)
    slots = {id(v): tf.constant(keras.ops.convert_to_numpy(opt.momentums[opt._get_variable_index(v)]))
             for v in net.weight_variables}

    alpha = [tf.Variable(val) for val, a in zip(values, is_arch) if a]
    with tf.GradientTape() as outer:
        it = iter(alpha)
        current = [next(it) if a else val for val, a in zip(values, is_arch)]
        with tf.GradientTape() as inner:
            inner.watch(current)
            train_loss = _loss(net, current, xt, yt)
        grads = inner.gradient(train_loss, current)
        stepped = []
        for var, val, g, a in zip(trainable, current, grads, is_arch):
            if a:
                stepped.append(val)
            else:
                stepped.append(val + 0.9 * slots[id(var)] - xi * (g + 3e-4 * val))
        val_loss = _loss(net, stepped, xv, yv)
    expected = outer.gradient(val_loss, alpha)

    got, _, _ = tf.function(search.arch_gradients)(xt, yt, xv, yv)
    first_order = [g.numpy() for g in search.gradients(xv, yv, net.arch_variables)[0]]
    for e, g, f in zip(expected, got, first_order):
        e, g = e.numpy(), g.numpy()
        # The finite-difference Hessian-vector product is accurate to well under 1e-3 relative,
        tolerance = 1e-3 * np.abs(e).max()
        np.testing.assert_allclose(g, e, rtol=0, atol=tolerance)
        # and the second-order term is far above that tolerance (the check has teeth).
        assert np.abs(e - f).max() > 20 * tolerance
