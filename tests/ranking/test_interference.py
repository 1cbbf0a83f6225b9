"""The gradient-similarity measurement of interference (arXiv 2108.12821, Sec. 3)."""

from __future__ import annotations

import numpy as np
import pytest

from tfnas.algorithms import build_search
from tfnas.algorithms.runner import make_search_config
from tfnas.ranking.interference import gradient_similarity, path_gradients
from tfnas.spaces import nb201 as nb201_space
from tfnas.supernets.cells import SearchCell


@pytest.fixture(scope="module")
def supernet():
    config = make_search_config("spos", "nb201", epochs=1, batch_size=8, channels=4, layers=1)
    return build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=1).supernet


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 8, 8, 3)).astype("float32"), rng.integers(10, size=8)


def test_edge_op_slice_is_the_kernel_the_child_computes_the_edge_with(supernet, batch):
    ops = list(nb201_space.OPS)
    conv = ops.index("nor_conv_3x3")
    cell = next(b for b in supernet.blocks if isinstance(b, SearchCell))
    for probe in range(len(supernet.edges)):
        path = [ops.index("skip_connect")] * len(supernet.edges)
        path[probe] = conv
        slices = {e: cell.edge_op_slice(e, "nor_conv_3x3") for e in range(len(supernet.edges))}
        variables = list({id(v): v for v, _ in slices.values()}.values())
        grads = dict(zip((id(v) for v in variables), path_gradients(supernet, path, *batch, variables)))
        for e, (variable, index) in slices.items():
            used = np.any(grads[id(variable)][index] != 0)
            assert used == (e == probe), (probe, e)  # only the probe edge's slice gets a gradient
    with pytest.raises(ValueError, match="plain convolutions"):
        cell.edge_op_slice(0, "avg_pool_3x3")


def test_identical_children_agree_exactly_and_rows_cover_every_distance(supernet, batch):
    report = gradient_similarity(supernet, *batch, pairs_per_distance=2, seed=1)
    rows = report.rows()
    assert [r["distance"] for r in rows] == [1, 2, 3, 4, 5]
    for r in rows:
        assert r["count"] + r["skipped"] == 2 * 3  # two pairs, three search cells
        assert r["mean_cosine"] is None or -1.0 <= r["mean_cosine"] <= 1.0
    ops = list(nb201_space.OPS)
    path = [ops.index("nor_conv_3x3")] * 6
    cell_vars = [v for v in supernet.weight_variables if "nor_conv_3x3" in v.path]
    a = path_gradients(supernet, path, *batch, cell_vars)
    b = path_gradients(supernet, path, *batch, cell_vars)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def test_a_supernet_that_does_not_sample_is_refused(batch):
    config = make_search_config("darts", "nb201", epochs=1, batch_size=8, channels=4, layers=1)
    softmax = build_search(config, "nb201", 10, (8, 8, 3), steps_per_epoch=1).supernet
    with pytest.raises(ValueError, match="single-path supernet"):
        gradient_similarity(softmax, *batch)
