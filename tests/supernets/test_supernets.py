"""Tests for the DARTS and NAS-Bench-201 search supernets (tiny shapes)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfnas.genotypes.cell import DartsGenotype
from tfnas.spaces import darts as darts_space
from tfnas.spaces import nb201 as nb201_space
from tfnas.supernets import SupernetConfig, build_supernet
from tfnas.supernets.cells import SearchCell

from tests.helpers import reference_cell

SHAPE = (8, 8, 3)


def _config(space="darts", **kwargs):
    base = dict(space=space, channels=4, layers=3 if space == "darts" else 1, num_classes=5,
                input_shape=SHAPE, seed=1)
    base.update(kwargs)
    return SupernetConfig(**base)


def _images(batch=4, seed=0):
    return np.random.default_rng(seed).random((batch,) + SHAPE).astype("float32")


MODES = [
    ("darts", {}), ("darts", {"mixing": "gumbel"}), ("darts", {"mixing": "rome"}),
    ("darts", {"partial_channels": 2, "edge_normalization": True}), ("darts", {"aux_skip": True}),
    ("nb201", {}), ("nb201", {"mixing": "gumbel"}), ("nb201", {"aux_skip": True}),
    ("nb201", {"partial_channels": 2, "edge_normalization": True}),
]


@pytest.mark.parametrize("space, kwargs", MODES)
def test_forward_shape_and_variable_groups(space, kwargs):
    net = build_supernet(_config(space, **kwargs))
    assert tuple(net(_images()).shape) == (4, 5)
    arch = {id(v) for v in net.arch_variables}
    weights = {id(v) for v in net.weight_variables}
    assert arch and weights and not arch & weights
    assert arch | weights == {id(v) for v in net.trainable_variables}
    assert not {id(net.temperature), id(net.aux_skip_beta)} & (arch | weights)
    expected = 2 if space == "darts" else 1
    if kwargs.get("edge_normalization") or kwargs.get("mixing") == "rome":
        expected *= 2
    assert len(net.arch_variables) == expected


def test_darts_parameter_count_matches_reference():
    net = build_supernet(SupernetConfig(channels=16, layers=8, input_shape=(32, 32, 3)))
    # The reference DARTS search Network (8 cells, 16 channels) has 1,930,618 weights
    # (stem BN gamma/beta included, alphas excluded).
    assert sum(int(np.prod(v.shape)) for v in net.weight_variables) == 1930618


def _forcing_alphas(num_edges, ops, choice, strength=30.0):
    alpha = np.zeros((num_edges, len(ops)), np.float32)
    for row, op in enumerate(choice):
        alpha[row, ops.index(op)] = strength
    return alpha


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_batched_softmax_equals_single_path_on_one_hot_alphas(space):
    """Softmax mixing (batched kernels) and gumbel mixing (one op per edge, sliced weights)
    compute the same function when the alphas select one op per edge."""
    soft = build_supernet(_config(space))
    hard = build_supernet(_config(space, mixing="gumbel"))
    for a, b in zip(soft.weights, hard.weights):
        b.assign(a)
    rng = np.random.default_rng(0)
    ops_ = [op for op in soft.op_names if op != "none"]
    for kind in soft.cell_kinds:
        choice = [ops_[i] for i in rng.integers(0, len(ops_), len(soft.edges))]
        alpha = _forcing_alphas(len(soft.edges), list(soft.op_names), choice, strength=60.0)
        soft._alphas[kind].assign(alpha)
        hard._alphas[kind].assign(alpha)
    x = _images()
    np.testing.assert_allclose(soft(x, training=True), hard(x, training=True), atol=2e-4, rtol=1e-4)


def test_darts_export_follows_derivation_rule():
    net = build_supernet(_config())
    target = DartsGenotype(
        normal=(("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_5x5", 2), ("max_pool_3x3", 0),
                ("sep_conv_5x5", 3), ("avg_pool_3x3", 1), ("dil_conv_3x3", 4), ("skip_connect", 2)),
        reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("avg_pool_3x3", 1),
                ("sep_conv_3x3", 0), ("skip_connect", 3), ("dil_conv_5x5", 4), ("sep_conv_5x5", 0)),
    )
    ops_ = list(darts_space.OPS)
    for kind in ("normal", "reduce"):
        alpha = np.zeros((14, 8), np.float32)
        alpha[:, 0] = 8.0  # `none` dominates every edge: it must never be chosen nor rank edges
        edges = getattr(target, kind)
        for k, (op, j) in enumerate(edges):
            node = 2 + k // 2
            row = darts_space.supernet_edges().index((node, j))
            alpha[row, ops_.index(op)] = 6.0 if k % 2 == 0 else 4.0  # first listed = strongest
        net._alphas[kind].assign(alpha)
    assert net.export() == target


def test_edge_normalization_changes_the_chosen_edges():
    net = build_supernet(_config(partial_channels=2, edge_normalization=True))
    for kind in ("normal", "reduce"):
        net._alphas[kind].assign(np.zeros((14, 8), np.float32))
        beta = np.zeros(14, np.float32)
        for node in range(2, 6):
            rows = [i for i, (n, _) in enumerate(darts_space.supernet_edges()) if n == node]
            beta[rows[-1]], beta[rows[-2]] = 3.0, 2.0  # the two latest inputs win
        net._edge_logits[kind].assign(beta)
    genotype = net.export()
    assert [j for _, j in genotype.normal] == [1, 0, 2, 1, 3, 2, 4, 3]


def test_nb201_export_is_argmax_per_edge():
    net = build_supernet(_config("nb201"))
    choice = ["nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]
    net._alphas["cell"].assign(_forcing_alphas(6, list(nb201_space.OPS), choice, 2.0))
    assert net.export().ops == tuple(choice)


def test_gumbel_computes_only_the_sampled_op():
    net = build_supernet(_config(mixing="gumbel"))
    ops_ = list(darts_space.OPS)
    for kind in ("normal", "reduce"):
        net._alphas[kind].assign(_forcing_alphas(14, ops_, ["sep_conv_3x3"] * 14, 50.0))
    x, y = _images(), np.arange(4) % 5
    with tf.GradientTape() as tape:
        logits = net(x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        loss = tf.reduce_mean(loss)
    variables = net.weight_variables + net.arch_variables
    grads = dict(zip([v.path for v in variables], tape.gradient(loss, variables)))
    sampled = [p for p in grads if "sep_conv_3x3" in p]
    unsampled = [p for p in grads if "dil_conv" in p or "sep_conv_5x5" in p]
    assert sampled and unsampled
    for path in sampled:
        assert np.abs(np.asarray(grads[path])).sum() > 0, path
    for path in unsampled:
        assert grads[path] is None or np.abs(np.asarray(grads[path])).max() == 0, path
    for kind in ("normal", "reduce"):
        alpha_grad = np.asarray(grads[net._alphas[kind].path])
        assert np.abs(alpha_grad).sum() > 0


def test_rome_samples_two_inputs_per_node_and_never_none():
    net = build_supernet(_config(mixing="rome"))
    assert "none" not in net.op_names and len(net.op_names) == 7
    edges = darts_space.supernet_edges()
    for _ in range(5):
        arch = net.arch_inputs("normal")
        keep = np.asarray(arch["keep"])
        branch = np.asarray(arch["branch"])
        np.testing.assert_allclose(np.sort(np.unique(np.round(keep, 5))), [0.0, 1.0])
        for node in range(2, 6):
            rows = [i for i, (n, _) in enumerate(edges) if n == node]
            assert int(np.round(keep[rows]).sum()) == 2
            assert ((branch[rows] > 0) == (np.round(keep[rows]) == 1)).all()
    assert tuple(net(_images()).shape) == (4, 5)


def _sampled_cell_gradients(cell, x, r, index, unsampled_term):
    """Output and `d sum(cell(x) * r) / d hard` of a gumbel cell at the one-hot `hard` of `index`."""
    one_hot = tf.one_hot(index, len(nb201_space.OPS))
    hard = tf.Variable(one_hot)
    with tf.GradientTape() as tape:
        arch = {"hard": tf.identity(hard), "index": tf.constant(index)}
        if unsampled_term:
            arch["unsampled"] = tf.reduce_sum(arch["hard"] * (1.0 - one_hot), axis=-1)
        y = cell(x, arch)
        loss = tf.reduce_sum(y * r)
    return np.asarray(y), np.asarray(tape.gradient(loss, hard))


@pytest.mark.parametrize("seed", [0, 1])
def test_unsampled_term_is_the_reference_gdas_edge(seed):
    """GDAS's reference edge `h_k O_k(x) + sum_{j != k} h_j`: the same forward pass, and each
    unsampled op's weight gets the summed gradient of its edge's target node."""
    rng = np.random.default_rng(seed)
    cell = SearchCell("nb201", 4, nb201_space.OPS, mixing="gumbel", seed=seed)
    x = tf.constant(rng.normal(size=(2, 8, 8, 4)).astype("float32"))
    r = tf.constant(rng.normal(size=(2, 8, 8, 4)).astype("float32"))
    index = rng.integers(0, len(nb201_space.OPS), size=len(nb201_space.EDGES)).astype("int32")
    y_paper, g_paper = _sampled_cell_gradients(cell, x, r, index, False)
    y_ref, g_ref = _sampled_cell_gradients(cell, x, r, index, True)
    np.testing.assert_array_equal(y_ref, y_paper)
    sampled = np.eye(len(nb201_space.OPS), dtype=bool)[index]
    np.testing.assert_allclose(g_ref[sampled], g_paper[sampled], rtol=1e-5, atol=1e-5)
    assert (g_paper[~sampled] == 0).all()
    for e, (node, _) in enumerate(nb201_space.EDGES):
        unsampled = g_ref[e][~sampled[e]]
        np.testing.assert_allclose(unsampled, unsampled[0], rtol=1e-6)  # one value per edge
        if node == 3:  # the cell's output node: d loss / d node = r
            np.testing.assert_allclose(unsampled, float(tf.reduce_sum(r)), rtol=1e-4)
        else:
            assert abs(unsampled[0]) > 1e-3


def test_unsampled_term_in_the_supernet():
    plain = build_supernet(_config("nb201", mixing="gumbel"))
    ref = build_supernet(_config("nb201", mixing="gumbel", unsampled_term=True))
    ref.set_weights(plain.get_weights())
    arch = plain.arch_inputs("cell")
    assert "unsampled" not in arch
    alpha = ref._alphas["cell"]
    with tf.GradientTape() as tape:
        ref_arch = ref.arch_inputs("cell")
        total = tf.reduce_sum(ref_arch["unsampled"])
    assert (np.asarray(ref_arch["unsampled"]) == 0).all()
    assert np.abs(np.asarray(tape.gradient(total, alpha))).max() > 0  # it reaches alpha
    with pytest.raises(ValueError, match="unsampled_term.*gumbel"):
        _config("nb201", unsampled_term=True)
    x = _images()
    np.testing.assert_array_equal(np.asarray(ref(x, arch={"cell": {**arch, "unsampled": ref_arch["unsampled"] * 0}})),
                                  np.asarray(plain(x, arch={"cell": arch})))


def test_samples_differ_between_calls():
    net = build_supernet(_config(mixing="gumbel"))
    a = np.asarray(net.arch_inputs("normal")["index"])
    b = np.asarray(net.arch_inputs("normal")["index"])
    c = np.asarray(net.arch_inputs("normal")["index"])
    assert not (np.array_equal(a, b) and np.array_equal(b, c))


def test_partial_channels_only_first_slice_goes_through_ops():
    cell = SearchCell("nb201", 8, nb201_space.OPS, partial_channels=4)
    cell.build()
    x = tf.constant(_images(2)[..., :1] * np.ones((1, 1, 1, 8), np.float32)
                    + np.random.default_rng(1).random((2, 8, 8, 8)).astype("float32"))
    none_only = np.zeros((6, 5), np.float32)
    none_only[:, 0] = 1.0
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = cell(x, {"weights": tf.constant(none_only)})
        total = tf.reduce_sum(out * out)
    grad = np.asarray(tape.gradient(total, x))
    assert np.abs(grad[..., :2]).max() == 0  # the op slice reaches the output only via ops
    assert np.abs(grad[..., 2:]).max() > 0  # the bypass reaches it directly
    assert tuple(cell._vars["g0_nor_conv_3x3_w"].shape) == (1, 3, 3, 2, 6)


@pytest.mark.parametrize("space", ["darts", "nb201"])
def test_aux_skip_with_beta_zero_equals_plain_softmax(space):
    plain = build_supernet(_config(space))
    aux = build_supernet(_config(space, aux_skip=True))
    values = {v.path.replace(plain.name + "/", ""): v for v in plain.weights}
    copied = 0
    for v in aux.weights:
        key = v.path.replace(aux.name + "/", "")
        if key in values:
            v.assign(values[key])
            copied += 1
    assert copied == len(plain.weights)
    aux.aux_skip_beta.assign(0.0)
    x = _images()
    np.testing.assert_allclose(plain(x, training=True), aux(x, training=True), atol=1e-5)
    aux.aux_skip_beta.assign(1.0)
    assert np.abs(np.asarray(plain(x, training=True)) - np.asarray(aux(x, training=True))).max() > 1e-4


def test_arch_state_is_probabilities():
    net = build_supernet(_config(partial_channels=2, edge_normalization=True))
    state = net.arch_state()
    assert state["normal/alpha"].shape == (14, 8)
    np.testing.assert_allclose(state["normal/alpha"].sum(axis=1), 1.0, rtol=1e-5)
    assert state["reduce/edge"].shape == (14,)
    np.testing.assert_allclose(state["reduce/edge"][:2].sum(), 1.0, rtol=1e-5)


def test_config_round_trip_rebuilds_the_same_structure():
    net = build_supernet(_config(mixing="gumbel"))
    rebuilt = type(net).from_config(net.get_config())
    assert rebuilt.config == net.config
    assert sorted(tuple(v.shape) for v in rebuilt.weights) == sorted(tuple(v.shape) for v in net.weights)


@pytest.mark.parametrize("space, kwargs", [("darts", {}), ("darts", {"mixing": "rome"}),
                                           ("nb201", {"mixing": "gumbel"})])
def test_one_step_moves_weights_and_architecture(space, kwargs):
    from launch._search_step_bench import _minimal_step

    net = build_supernet(_config(space, **kwargs))
    step = _minimal_step(net)
    before_arch = [np.array(v) for v in net.arch_variables]
    before_w = [np.array(v) for v in net.weight_variables]
    x, y = tf.constant(_images()), tf.constant(np.arange(4) % 5, tf.int32)
    # A sampled path can carry no architecture gradient (e.g. every sampled edge into the
    # output is `none`); a few fresh samples must move the architecture.
    moved = False
    for _ in range(4):
        step(x, y, tf.constant(_images(seed=1)), y)
        moved = any(np.abs(np.array(v) - b).max() > 0 for v, b in zip(net.arch_variables, before_arch))
        if moved or not kwargs:
            break
    assert moved
    assert any(np.abs(np.array(v) - b).max() > 0 for v, b in zip(net.weight_variables, before_w))


@pytest.mark.parametrize("block_diagonal", [True, False])
@pytest.mark.parametrize("space, reduction", [("darts", False), ("darts", True), ("nb201", False)])
def test_softmax_cell_is_the_weighted_sum_of_single_ops(space, reduction, block_diagonal,
                                                        monkeypatch):
    """The batched softmax cell (weights folded into the BN scale, sources spread onto edges)
    equals `sum_o w[e, o] * op_o(x)` summed per node, each op computed alone, for generic
    (not one-hot) weights, with the pointwise convs as block-diagonal or batched matmuls."""
    from tfnas.supernets import kernels

    monkeypatch.setattr(kernels, "BLOCK_DIAGONAL_MAX_CHANNELS", 10**6 if block_diagonal else 0)
    op_names = darts_space.OPS if space == "darts" else nb201_space.OPS
    kwargs = dict(channels=4, op_names=op_names, seed=3)
    if space == "darts":
        kwargs.update(reduction=reduction, prev_prev_channels=6, prev_channels=5)
        inputs = (tf.constant(np.random.default_rng(1).random((2, 8, 8, 6)), tf.float32),
                  tf.constant(np.random.default_rng(2).random((2, 8, 8, 5)), tf.float32))
    else:
        inputs = tf.constant(np.random.default_rng(1).random((2, 8, 8, 4)), tf.float32)
    cell = SearchCell(space, **kwargs)
    weights = np.random.default_rng(4).random((len(cell.edges), len(op_names))).astype("float32")
    out = cell(inputs, {"weights": tf.constant(weights)})
    # reference: node by node, edge by edge, op by op
    expected = reference_cell(cell, inputs, lambda e: [(op, weights[e, o]) for o, op in enumerate(op_names)])
    np.testing.assert_allclose(out, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("mixing", ["gumbel", "rome"])
def test_sampled_step_in_a_graph_with_ops_that_no_edge_sampled(mixing):
    """Inside `tf.function`, ops with no sampled edge (empty blocks) must run and train.

    Regression: TensorFlow's graph-mode depthwise kernel rejects a zero-channel filter, so
    an op sampled by no edge of a group crashed the DARTS-space GDAS/ROME step (eager passed).
    """
    from launch._search_step_bench import _minimal_step

    net = build_supernet(_config(mixing=mixing))
    ops_ = list(net.op_names)
    for kind in ("normal", "reduce"):
        net._alphas[kind].assign(_forcing_alphas(14, ops_, ["sep_conv_3x3"] * 14, 50.0))
    step = _minimal_step(net)
    x, y = tf.constant(_images()), tf.constant(np.arange(4) % 5, tf.int32)
    before = {v.path: np.array(v) for v in net.weight_variables}
    loss = step(x, y, tf.constant(_images(seed=1)), y)
    assert np.isfinite(loss)
    moved = [v.path for v in net.weight_variables if np.abs(np.array(v) - before[v.path]).max() > 0]
    assert any("sep_conv_3x3" in p for p in moved)
    assert not any("dil_conv_5x5" in p for p in moved)
