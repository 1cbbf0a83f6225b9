"""BNAS (arXiv 1911.10862) at tiny size: binarized cells, the reduction rounds, resume."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from tests.helpers import run_script_last_line
from tfnas.algorithms import build_search
from tfnas.algorithms.bnas import ABANDONED, Bnas, candidates, worst_candidates
from tfnas.supernets import SupernetConfig, build_supernet
from tfnas.supernets.cells import OP_KINDS, runs_per_edge



def _search(space: str = "nb201", **changes):
    base = dict(channels=4 if space == "nb201" else 8, layers=1 if space == "nb201" else 3, batch_size=8,
                arch_warmup_epochs=1, reduce_every=1, child_every=1)
    base["epochs"] = 1 + (4 if space == "nb201" else 6)
    base.update(changes)
    return build_search(Bnas.default_config().replace(**base), space, 10, (8, 8, 3), steps_per_epoch=2)


def test_binarized_cells_compute_with_plus_minus_scale_weights_only():
    config = SupernetConfig(space="nb201", channels=4, layers=1, input_shape=(8, 8, 3), partial_channels=2,
                            edge_normalization=True, binarized=True)
    binary = build_supernet(config)
    plain = build_supernet(SupernetConfig(**{**config.to_dict(), "input_shape": (8, 8, 3), "binarized": False}))
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    binary(x), plain(x)
    for cell_b, cell_p in zip(binary.blocks, plain.blocks):
        if not hasattr(cell_b, "_kernel"):
            continue
        for name, var in cell_b._vars.items():
            kernel = np.asarray(cell_b._kernel(name))
            axes = tuple(a for a in range(kernel.ndim) if a not in cell_b._out_axes[name])
            scale = np.mean(np.abs(var.numpy()), axis=axes, keepdims=True)
            np.testing.assert_allclose(np.abs(kernel), np.broadcast_to(scale, kernel.shape), rtol=1e-6)
            np.testing.assert_array_equal(np.sign(kernel), np.sign(var.numpy()))
            cell_p._vars[name].assign(kernel)  # the float supernet given the 1-bit values
    for b, p in zip(binary.weights, plain.weights):
        if "cell" not in b.path:  # stem, reduction blocks, classifier, alphas: float in both
            p.assign(b.numpy())
    np.testing.assert_allclose(np.asarray(binary(x, training=True)), np.asarray(plain(x, training=True)),
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="binarized is supported with mixing='softmax' only"):
        SupernetConfig(space="nb201", mixing="gumbel", binarized=True)


def test_the_schedule_must_end_with_one_op_per_edge():
    with pytest.raises(ValueError, match="epochs must be 5"):
        _search(epochs=6)
    search = _search("darts")
    assert search.rounds == 6  # the DARTS space drops `none` first: 7 ops, 6 rounds
    none = search.supernet.op_names.index("none")
    assert all(np.all(v.numpy()[:, none] == ABANDONED) for v in search.logits)


def test_candidates_are_the_lower_half_and_the_worst_rated_goes():
    alpha = np.array([[0.4, 0.1, 0.3, 0.2, ABANDONED]])
    assert candidates(alpha).tolist() == [[0, 1, 0, 1, 0]]  # 4 left: the 2 lowest
    total, count = np.zeros((1, 5)), np.zeros((1, 5))
    total[0, 1], count[0, 1] = 0.9, 1
    total[0, 3], count[0, 3] = 0.5, 1
    assert worst_candidates(alpha, total, count) == [3]  # mean child accuracy 0.5 < 0.9
    count[0, 3] = 0
    assert worst_candidates(alpha, total, count) == [3]  # never used by a child: goes first
    count[0, 3], total[0, 3] = 1, 0.9
    assert worst_candidates(alpha, total, count) == [1]  # a tie: the lower alpha goes


def test_an_abandoned_op_has_no_weight_and_is_never_sampled_again():
    search = _search()
    kind = search.supernet.cell_kinds[0]
    search.refresh_candidates()
    before = search.logits[0].numpy()
    total = np.full(before.shape, 0.5, np.float32)
    count = np.ones(before.shape, np.float32)
    cand = candidates(before)
    doomed = [int(np.flatnonzero(cand[e])[0]) for e in range(before.shape[0])]
    total[np.arange(len(doomed)), doomed] = 0.1  # the children that used these did worst
    search.child_total[0].assign(total)
    search.child_count[0].assign(count)
    assert search.reduce_operations() == [doomed]
    after = search.logits[0].numpy()
    assert np.all(after[np.arange(len(doomed)), doomed] == ABANDONED) and search.ops_left() == 4
    assert np.all(search.child_count[0].numpy() == 0)  # a new round starts from no statistics
    weights = np.asarray(search.supernet.arch_inputs(kind)["weights"])
    assert np.all(weights[np.arange(len(doomed)), doomed] == 0.0)
    for step in range(200):
        child = np.asarray(search._sample_child(step)[0])
        assert np.all(child[np.arange(len(doomed)), doomed] == 0.0)
        assert np.all(child.sum(axis=1) == 1.0) and np.all(child <= search.candidate_mask[0].numpy())


def _output_and_gradients(supernet, variables):
    """The supernet's training-mode output on a fixed batch and its gradients to `variables`."""
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        y = supernet(x, training=True)
    return y, tape.gradient(y, variables)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_an_op_abandoned_on_a_whole_edge_group_leaves_the_graph_and_the_output_stays(space):
    """The operation-space reduction's saving: the re-traced step no longer computes it."""
    import tensorflow as tf

    search = _search(space)
    supernet = search.supernet
    name = "nor_conv_3x3" if space == "nb201" else "sep_conv_3x3"
    conv = supernet.op_names.index(name)
    for variable in search.logits:
        value = variable.numpy()
        value[:, conv] = ABANDONED
        variable.assign(value)
    conv_kernels = [v for v in supernet.weight_variables if f"_{name}_" in v.path]
    assert conv_kernels
    full, full_grads = _output_and_gradients(supernet, conv_kernels)
    supernet.restrict_ops([v.numpy() > ABANDONED / 2 for v in search.logits])
    left_out, grads = _output_and_gradients(supernet, conv_kernels)
    np.testing.assert_allclose(np.asarray(left_out), np.asarray(full), rtol=1e-6, atol=1e-6)
    assert all(g is None for g in grads)  # not in the graph
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) == 0.0 for g in full_grads)  # weight 0 before
    supernet.restrict_ops(None)
    with pytest.raises(ValueError, match="one mask per cell kind"):
        supernet.restrict_ops([])


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_ops_abandoned_on_some_edges_run_on_the_others_only_and_nothing_changes(space):
    """Each edge abandons its own ops (a later round): an op with weights kept on at most half
    of a group's edges runs on those edges alone (`SearchCell._single_op`, binarized; the others
    batched), and the output and every weight's gradient equal those of the full graph, where
    the abandoned ops have weight 0 (the DARTS space's reduction cell covers the strided skip's
    own weights)."""
    import tensorflow as tf

    search = _search(space)
    supernet = search.supernet
    search.abandon_at_random(search.rounds // 2, seed=1)  # half of every edge's ops: NB201 3 of 5 left, DARTS 4 of 7
    supernet.restrict_ops(None)  # the full graph first
    weights = [v for v in supernet.weight_variables if "cell" in v.path]
    full, full_grads = _output_and_gradients(supernet, weights)
    supernet.restrict_ops([v.numpy() > ABANDONED / 2 for v in search.logits])
    expected, ran = set(), []
    for cell, _ in supernet.cells_with_kinds():
        for g, group in enumerate(cell.groups):
            rows = cell._group_edges(*group)
            for o, op in enumerate(cell.op_names):
                kept = cell.alive_ops[rows, o]
                if runs_per_edge(OP_KINDS[op][0], cell.group_stride(g), kept):
                    expected |= {(cell.name, g, op, *divmod(int(e), len(group[1]))) for e in np.flatnonzero(kept)}

        def single_op(g, op, si, ti, x, cell=cell, original=cell._single_op):
            ran.append((cell.name, g, op, si, ti))
            return original(g, op, si, ti, x)

        cell._single_op = single_op
    assert expected  # some op with weights is kept on part of a group only
    sliced, grads = _output_and_gradients(supernet, weights)
    assert expected == set(ran) and len(ran) == len(set(ran))  # exactly the kept edges, one by one
    if space == "darts":
        assert any(r[2] == "skip_connect" for r in ran)  # the reduction cell's strided skip
    np.testing.assert_allclose(np.asarray(sliced), np.asarray(full), rtol=1e-5, atol=1e-5)
    for variable, g, g_full in zip(weights, grads, full_grads):
        if g is None:  # left out: abandoned wherever it had weights
            assert g_full is None or float(tf.reduce_max(tf.abs(g_full))) == 0.0, variable.path
        else:
            np.testing.assert_allclose(np.asarray(g), np.asarray(g_full), rtol=1e-4, atol=1e-5,
                                       err_msg=variable.path)


def test_abandon_at_random_gives_the_op_space_of_a_later_round():
    search = _search("darts")
    search.abandon_at_random(2, seed=3)
    supernet = search.supernet
    alive = {kind: v.numpy() > ABANDONED / 2 for kind, v in zip(supernet.cell_kinds, search.logits)}
    assert all(np.all(a.sum(axis=1) == 7 - 2) for a in alive.values())  # `none` went first, then 2 per edge
    for cell, kind in supernet.cells_with_kinds():
        np.testing.assert_array_equal(cell.alive_ops, alive[kind])
    assert search.train_function is None  # traced again, without them
    with pytest.raises(ValueError, match=r"rounds must be in \[0, 6\)"):
        search.abandon_at_random(6)


def test_restrict_ops_gives_each_cell_its_own_kind_s_mask():
    """DARTS: an op abandoned in the reduction cells only leaves the reduction cells only."""
    supernet = _search("darts").supernet
    assert [kind for _, kind in supernet.cells_with_kinds()] == [
        "reduce" if r else "normal" for r in supernet.reductions]
    conv = supernet.op_names.index("sep_conv_3x3")
    alive = [np.ones((len(supernet.cells[0].edges), len(supernet.op_names)), bool) for _ in supernet.cell_kinds]
    alive[supernet.cell_kinds.index("reduce")][:, conv] = False
    supernet.restrict_ops(alive)
    for cell, kind in supernet.cells_with_kinds():
        assert cell.alive_ops is not None and cell.alive_ops[:, conv].any() == (kind == "normal")


def test_a_reduction_round_retraces_the_step_without_the_abandoned_ops():
    search = _search()
    first = search.make_train_function()
    search.refresh_candidates()
    search.reduce_operations()
    assert search.train_function is not first
    cells = [layer for layer in search.supernet._flatten_layers() if hasattr(layer, "alive_ops")]
    assert cells and all(cell.alive_ops is not None and cell.alive_ops.sum() == cell.alive_ops.size - len(
        cell.edges) for cell in cells)  # one op gone from every edge


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from tfnas.algorithms import ALGORITHMS
    from tfnas.algorithms.runner import search

    class Killed(Exception):
        pass

    class KillMidRound(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # the first round runs epochs 1 and 2
                raise Killed()

    workdir, mode = sys.argv[1], sys.argv[2]
    config = ALGORITHMS.get("bnas").default_config().replace(
        epochs=9, batch_size=16, channels=4, layers=1, arch_warmup_epochs=1, reduce_every=2, child_every=1)
    try:
        report = search(config, workdir=workdir, callbacks=[KillMidRound()] if mode == "kill" else None,
                        space="nb201", dataset="digits", image_size=8, max_train_examples=64, verbose=0)
    except Killed:
        print("KILLED")
    else:
        print(json.dumps(report))
    """
)


def _run(workdir, mode: str) -> str:
    return run_script_last_line(_SCRIPT, str(workdir), mode)


@pytest.mark.slow
def test_a_search_killed_mid_round_resumes_to_the_same_genotype(tmp_path):
    straight = json.loads(_run(tmp_path / "straight", "run"))
    assert _run(tmp_path / "killed", "kill") == "KILLED"
    resumed = json.loads(_run(tmp_path / "killed", "run"))
    assert resumed["resumed_from_epoch"] == 2 and resumed["genotype"] == straight["genotype"]
    state = json.loads((tmp_path / "killed" / "genotype.json").read_text())["search"]["arch_state"]
    alpha = np.array(state["cell/alpha"])
    assert np.all(np.sum(alpha > 0, axis=1) == 1)  # one op left on every edge
    a = json.loads((tmp_path / "straight" / "genotype.json").read_text())["search"]["arch_state"]
    np.testing.assert_array_equal(np.array(a["cell/alpha"]), alpha)


_MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tfnas.algorithms import build_search
    from tfnas.algorithms.bnas import Bnas

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 10, 8).astype("int32")
    data = tf.data.Dataset.from_tensors(((x, y), (x, y))).repeat()
    config = Bnas.default_config().replace(channels=4, layers=1, batch_size=8, arch_warmup_epochs=0,
                                           reduce_every=1, child_every=1, epochs=4)
    out = {}
    for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("two", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            search = build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=2)
        search.refresh_candidates()
        search.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
        out[name] = {"count": search.child_count[0].numpy().tolist(), "total": search.child_total[0].numpy().tolist(),
                     "mask": search.candidate_mask[0].numpy().tolist(),
                     "replicas": strategy.num_replicas_in_sync}
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_round_statistics_sum_over_replicas():
    """Under a 2-replica `MirroredStrategy` every replica evaluates the same child (same seed,
    same step) on its half of the validation batch, and the statistics are summed: each
    evaluated op is counted once per replica and its total is the sum of the replicas'
    accuracies, so a rating (total / count) is their mean, as on one device."""
    out = json.loads(run_script_last_line(_MIRRORED_SCRIPT))
    one, two = out["one"], out["two"]
    assert two["replicas"] == 2 and one["replicas"] == 1
    count_one, count_two = np.array(one["count"]), np.array(two["count"])
    assert count_one.sum() > 0  # two steps, a child evaluated at each
    np.testing.assert_array_equal(count_two, 2 * count_one)  # same children, counted by both replicas
    np.testing.assert_array_equal(np.array(two["mask"]), np.array(one["mask"]))
    total_two = np.array(two["total"])
    assert np.all(total_two <= count_two) and np.all(total_two >= 0)


def test_children_sample_each_candidate_once_per_cycle():
    import tensorflow as tf

    from tfnas.algorithms.bnas import child_order

    alpha = np.random.default_rng(0).normal(size=(6, 5))
    alpha[:, 0] = ABANDONED
    mask = candidates(alpha)  # 4 remaining ops per edge, 2 candidates each
    n = int(mask[0].sum())
    orders = []
    for cycle in range(4):
        picks = np.stack([child_order(mask, tf.constant(cycle * n + i), seed=3).numpy() for i in range(n)])
        for e in range(mask.shape[0]):  # every candidate once per cycle, nothing else
            assert sorted(picks[:, e].tolist()) == np.flatnonzero(mask[e]).tolist()
        orders.append(picks)
    assert any(not np.array_equal(orders[0], other) for other in orders[1:])  # the order is redrawn
