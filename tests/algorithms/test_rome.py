"""ROME: K-sample accumulation (architecture gradient averaged, weight gradient summed)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tests.algorithms.standin import bilevel_batch, make_search


def _manual(search, images, labels, variables, k):
    """K eager forward/backward passes, each drawing its own sample; returns the per-sample grads."""
    per_sample = []
    for _ in range(k):
        with tf.GradientTape() as tape:
            logits = search.supernet(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        per_sample.append([g.numpy() for g in tape.gradient(loss, variables,
                                                            unconnected_gradients=tf.UnconnectedGradients.ZERO)])
    return per_sample


def test_arch_gradient_is_the_average_and_weight_gradient_the_sum_over_k_samples():
    k = 5
    search = make_search("rome", num_samples=k)
    search.supernet.temperature.assign(0.5)
    (xt, yt), (xv, yv) = bilevel_batch()
    state = keras.ops.convert_to_numpy(search.supernet.seed_generator.state).copy()

    arch_fn = tf.function(search.arch_gradients)
    weight_fn = tf.function(search.weight_gradients)
    arch_grads, _, _ = arch_fn(xt, yt, xv, yv)
    after_arch = keras.ops.convert_to_numpy(search.supernet.seed_generator.state).copy()
    weight_grads, _, _ = weight_fn(xt, yt)

    search.supernet.seed_generator.state.assign(state)
    arch_samples = _manual(search, xv, yv, search.supernet.arch_variables, k)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(search.supernet.seed_generator.state), after_arch)
    weight_samples = _manual(search, xt, yt, search.supernet.weight_variables, k)

    for i, got in enumerate(arch_grads):
        np.testing.assert_allclose(got.numpy(), np.mean([s[i] for s in arch_samples], axis=0), rtol=1e-5, atol=1e-8)
    for i, got in enumerate(weight_grads):
        np.testing.assert_allclose(got.numpy(), np.sum([s[i] for s in weight_samples], axis=0), rtol=1e-5, atol=1e-7)
    # The samples really differ (otherwise sum vs average would be trivially K * one sample).
    choices = {tuple(np.round(s[0], 6)) for s in arch_samples}
    assert len(choices) > 1


def test_graph_does_not_grow_with_k():
    sizes = []
    for k in (1, 6):
        search = make_search("rome", num_samples=k)
        (xt, yt), _ = bilevel_batch()
        graph = tf.function(search.weight_gradients).get_concrete_function(
            tf.TensorSpec(xt.shape, tf.float32), tf.TensorSpec(yt.shape, tf.int32)).graph
        sizes.append(len(graph.as_graph_def(add_shapes=False).node)
                     + sum(len(f.node_def) for f in graph.as_graph_def().library.function))
    assert sizes[0] == sizes[1]
