"""The AutoRNN cell space: genotypes, the plain RNN as a member, the shared-weight search cell."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras

from tfnas.captioning.autornn import AutoRNNCell, RNNCellGenotype


def test_genotype_parses_validates_and_finds_loose_ends():
    g = RNNCellGenotype.from_string("tanh|relu<0|identity<0|sigmoid<2")
    assert g.ops == ("tanh", "relu", "identity", "sigmoid") and g.inputs == (-1, 0, 0, 2)
    assert g.to_string() == "tanh|relu<0|identity<0|sigmoid<2" and g.loose_ends() == (1, 3)
    assert RNNCellGenotype.from_string("tanh").loose_ends() == (0,)
    for bad, message in [("gelu", "not one of"), ("tanh|relu<1", "reads node 1"), ("tanh|relu", "op<j"),
                         ("tanh<0", "node 0 must be written op"), ("tanh|relu<x", "not a node number"), ("", "op|op<j")]:
        with pytest.raises(ValueError, match=message):
            RNNCellGenotype.from_string(bad)


def test_the_plain_rnn_cell_is_the_one_node_tanh_member():
    x = tf.random.normal([3, 5, 4], seed=1)
    plain = keras.layers.RNN(keras.layers.SimpleRNNCell(6), return_sequences=True)
    auto_cell = AutoRNNCell(6, genotype="tanh")
    auto = keras.layers.RNN(auto_cell, return_sequences=True)
    expected = plain(x)
    auto(x)
    kernel, recurrent, bias = plain.cell.get_weights()
    auto_cell.input_kernel.assign(kernel)
    auto_cell.recurrent_kernel.assign(recurrent)
    auto_cell.node_bias.assign(bias[None])
    np.testing.assert_allclose(auto(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("text", ["tanh", "relu|tanh<0", "tanh|relu<0|identity<0|sigmoid<2", "sigmoid|tanh<0|relu<1",
                                  "highway:tanh|relu<0|identity<0|sigmoid<2"])
def test_search_cell_computes_the_fixed_cell_it_is_set_to(text):
    """One shared cell, four architectures set in turn through its variables, each equal to the
    fixed child with the shared kernels of its connections; the traced function is reused."""
    genotype = RNNCellGenotype.from_string(text)
    search_cell = AutoRNNCell(5, num_nodes=genotype.num_nodes, highway=genotype.highway)
    search = keras.layers.RNN(search_cell, return_sequences=True)
    x = tf.random.normal([2, 4, 3], seed=2)
    search(x)
    for node_kernels in search_cell.node_kernels:
        node_kernels.assign(tf.random.normal(node_kernels.shape, seed=3, stddev=0.5))
    search_cell.node_bias.assign(tf.random.normal(search_cell.node_bias.shape, seed=4, stddev=0.1))
    search_cell.set_architecture(genotype)
    child_cell = AutoRNNCell(5, genotype=genotype)
    child = keras.layers.RNN(child_cell, return_sequences=True)
    child(x)
    child_cell.input_kernel.assign(search_cell.input_kernel)
    child_cell.recurrent_kernel.assign(search_cell.recurrent_kernel)
    child_cell.node_bias.assign(search_cell.node_bias)
    for i in range(1, genotype.num_nodes):
        child_cell.node_kernels[i - 1].assign(search_cell.node_kernels[i - 1][genotype.inputs[i]])
    traced = tf.function(lambda t: search(t))
    np.testing.assert_allclose(traced(x).numpy(), child(x).numpy(), rtol=1e-5, atol=1e-6)


def test_one_trace_serves_every_architecture():
    cell = AutoRNNCell(4, num_nodes=3)
    layer = keras.layers.RNN(cell)
    x = tf.random.normal([2, 3, 3], seed=5)
    with pytest.raises(ValueError, match="build the search cell first"):
        cell.set_architecture("tanh|relu<0|sigmoid<1")
    layer(x)
    traced = tf.function(lambda t: layer(t))
    outputs = []
    for text in ("tanh|relu<0|sigmoid<1", "relu|identity<0|tanh<0"):
        cell.set_architecture(text)
        outputs.append(traced(x).numpy())
    assert traced.experimental_get_tracing_count() == 1
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4
    with pytest.raises(ValueError, match="has 3 nodes"):
        cell.set_architecture("tanh")
    with pytest.raises(ValueError, match="either genotype"):
        AutoRNNCell(4)


def test_highway_genotype_round_trips_and_the_cell_gates_every_node():
    """`highway:` cells compute ENAS's node, `c * f(s W) + (1 - c) * carried`, checked against
    NumPy for two steps of a 3-node cell (node 0 carries h_{t-1}, node i the node it reads)."""
    g = RNNCellGenotype.from_string("highway:relu|tanh<0|identity<0")
    assert g.highway and g.ops == ("relu", "tanh", "identity") and g.inputs == (-1, 0, 0)
    assert g.to_string() == "highway:relu|tanh<0|identity<0"
    assert not RNNCellGenotype.from_string("relu|tanh<0").highway
    cell = AutoRNNCell(4, genotype=g)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = tf.random.normal([2, 2, 3], seed=6)
    layer(x)
    assert tuple(cell.input_kernel.shape) == (3, 8) and tuple(cell.node_kernels[0].shape) == (4, 8)
    cell.node_bias.assign(tf.random.normal(cell.node_bias.shape, seed=7))
    wx, wh, bias = (np.asarray(v) for v in (cell.input_kernel, cell.recurrent_kernel, cell.node_bias))
    kernels = [np.asarray(k) for k in cell.node_kernels]

    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    def node(pre, carried, f):
        gate = sigmoid(pre[:, :4])
        return gate * f(pre[:, 4:]) + (1.0 - gate) * carried

    h, expected = np.zeros((2, 4), np.float32), []
    for t in range(2):
        n0 = node(x[:, t].numpy() @ wx + h @ wh + bias[0], h, lambda v: np.maximum(v, 0.0))
        n1 = node(n0 @ kernels[0] + bias[1], n0, np.tanh)
        n2 = node(n0 @ kernels[1] + bias[2], n0, lambda v: v)
        h = (n1 + n2) / 2.0
        expected.append(h)
    np.testing.assert_allclose(layer(x).numpy(), np.stack(expected, axis=1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="from its genotype"):
        AutoRNNCell(4, genotype="tanh", highway=True)
    search_cell = AutoRNNCell(4, num_nodes=3, highway=True)
    keras.layers.RNN(search_cell)(x)
    with pytest.raises(ValueError, match="has highway gates"):
        search_cell.set_architecture("relu|tanh<0|identity<0")
    search_cell.set_architecture(g)
