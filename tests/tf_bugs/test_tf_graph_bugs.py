"""Minimal repros, in plain TensorFlow, of the graph-level leaks tfnas works around.

Each test passes while the bug is present and fails once TensorFlow fixes it: then the
workaround its docstring names can be revisited.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import tensorflow as tf
from tensorflow.python.framework import ops

pytestmark = pytest.mark.tf_bug


def _custom_gradient_names() -> set[str]:
    return {k for k in ops._gradient_registry._registry if k.startswith("CustomGradient-")}


def _trace_an_all_reduce_gradient() -> weakref.ref:
    """Traces, in a fresh `tf.function`, the gradient of a replica-context `all_reduce` (what
    Keras's optimizer does to the gradients in every `fit`), and returns a weak reference
    to the traced graph after every strong reference to it has been dropped."""
    v = tf.Variable(tf.ones([4]))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, v * v))
        return tape.gradient(loss, v)

    graph = weakref.ref(step.get_concrete_function().graph)
    assert float(step()[0]) == 2.0
    del step
    gc.collect()
    return graph


def test_a_traced_custom_gradient_is_registered_for_good_and_keeps_its_graph_alive():
    """`tf.custom_gradient` in graph mode registers its gradient function in the process-wide
    gradient registry under a fresh `CustomGradient-N` name that is never removed, and the
    function closes over the traced graph: the graph outlives the `tf.function` that traced
    it. `ReplicaContext.all_reduce` is such a custom gradient, and Keras's optimizer calls
    it in every traced train step, so each `fit` of a new network leaked its training graph
    (about 12 MB a cell at the NB201 ranking proxy; with the optimizer variables' init
    `cond`s, which `train_and_score` now avoids too, 33 MB a cell and 7.1 GB at the end of
    a 200-cell standalone run).

    tfnas workaround: `tfnas.runtime.released_custom_gradients()` forgets the entries
    registered inside a block; `train_and_score` trains inside one."""
    before = _custom_gradient_names()
    graph = _trace_an_all_reduce_gradient()
    assert _custom_gradient_names() - before  # registered (once per trace of the forward and the gradient)
    assert graph() is not None  # the bug: nothing but the registry holds the graph


def test_the_workaround_releases_the_graph():
    from tfnas import runtime

    before = _custom_gradient_names()
    with runtime.released_custom_gradients():
        graph = _trace_an_all_reduce_gradient()
    gc.collect()
    assert _custom_gradient_names() == before
    assert graph() is None
