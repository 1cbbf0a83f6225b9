"""Cell pictures and architecture-weight plots are produced as non-empty PNGs."""

from __future__ import annotations

import numpy as np
import pytest

from tfnas.genotypes import NB201Genotype, load
from tfnas.genotypes.plot import plot_arch_history, plot_cell

_PNG = b"\x89PNG\r\n\x1a\n"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == _PNG
    assert len(data) > 5000


def test_darts_cell_picture(tmp_path):
    path = tmp_path / "sub" / "cells.png"
    fig = plot_cell(load("darts_v2"), path)
    _assert_png(path)
    assert [ax.get_title() for ax in fig.axes] == ["normal cell", "reduction cell"]
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"sep_conv_3x3", "skip_connect", "dil_conv_3x3", "$c_{k-2}$", "$c_{k-1}$", "$c_{k}$", "0", "3"} <= texts


def test_nb201_cell_picture(tmp_path):
    genotype = NB201Genotype(("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "none"))
    path = tmp_path / "cell.png"
    fig = plot_cell(genotype, path)
    _assert_png(path)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert labels.count("none") == 2 and "avg_pool_3x3" in labels


def test_plot_cell_refuses_other_genotypes():
    with pytest.raises(TypeError, match="Received: str"):
        plot_cell("|nor_conv_3x3~0|")


def test_arch_history_plot(tmp_path):
    rng = np.random.default_rng(0)
    states = [
        {
            "normal/alpha": _softmax(rng.normal(size=(14, 8)) * e),
            "reduce/alpha": _softmax(rng.normal(size=(14, 8)) * e),
            "normal/edge": _softmax(rng.normal(size=(14,)) * e),
        }
        for e in range(4)
    ]
    path = tmp_path / "arch_weights.png"
    fig = plot_arch_history(states, path)
    _assert_png(path)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title().startswith("normal: op weights")
    assert [line.get_label() for line in fig.axes[0].lines][:2] == ["none", "max_pool_3x3"]
    assert len(fig.axes[0].lines) == 8
    assert fig.axes[2].lines[0].get_label() == "k-2->0"
    np.testing.assert_allclose(fig.axes[0].lines[3].get_ydata(), [s["normal/alpha"][:, 3].mean() for s in states])


def test_arch_history_nb201_single_epoch_and_names(tmp_path):
    states = [{"cell/alpha": np.full((6, 4), 0.25)}]
    fig = plot_arch_history(states, tmp_path / "a.png", op_names=["a", "b", "c", "d"])
    assert [line.get_label() for line in fig.axes[0].lines] == ["a", "b", "c", "d"]
    fig = plot_arch_history([{"cell/alpha": np.full((6, 4), 0.25)}])
    assert fig.axes[0].lines[0].get_label() == "skip_connect"  # NB201 without `none`
    with pytest.raises(ValueError, match="states=\\[\\]"):
        plot_arch_history([])
    with pytest.raises(ValueError, match="'cell/alpha'"):
        plot_arch_history([{"cell/alpha": np.ones((6, 5))}, {}])


def test_nb201_picture_texts_do_not_overlap(tmp_path):
    """Title, axes title and the cell's string each get their own room in the saved picture."""
    genotype = NB201Genotype(("avg_pool_3x3",) * 6)
    fig = plot_cell(genotype, tmp_path / "cell.png", title="darts_minus on digits (nb201), seed 0")
    renderer = fig.canvas.get_renderer()
    texts = [fig._suptitle, fig._supxlabel, fig.axes[0].title]
    assert texts[1].get_text() == genotype.to_string() and texts[0].get_text().startswith("darts_minus")
    boxes = [t.get_window_extent(renderer) for t in texts]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (texts[i].get_text(), texts[j].get_text())
    fig_box = fig.bbox
    assert all(fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 and fig_box.y0 <= b.y0 and b.y1 <= fig_box.y1 for b in boxes)


def test_arch_history_gives_every_line_its_own_style():
    names = [f"Op{i}" for i in range(20)]  # an augmentation stage: more ops than the default 10 colours
    fig = plot_arch_history([{"stage1/alpha": np.full((1, 20), 0.05)}], op_names={"stage1": names})
    styles = {(line.get_color(), line.get_linestyle()) for line in fig.axes[0].lines}
    assert len(styles) == 20


def test_policy_distribution_heatmap_holds_each_entry_s_probability(tmp_path):
    from tfnas.genotypes.plot import plot_policy_distribution
    from tfnas.genotypes.policy import PolicyGenotype

    policy = PolicyGenotype.from_string(
        "distribution:apply=0.4|Identity@0=0.2,Rotate@5=0.5,Rotate@10=0.3|Color@2.5=0.6,Identity@0=0.4")
    path = tmp_path / "final.png"
    fig = plot_policy_distribution(policy, path)
    _assert_png(path)
    stage1, stage2 = (ax for ax in fig.axes if ax.get_title().startswith("stage"))
    grid1, grid2 = (np.ma.filled(ax.images[0].get_array(), np.nan) for ax in (stage1, stage2))
    # rows Identity, Rotate, Color; columns the levels 0, 2.5, 5, 10
    np.testing.assert_allclose(grid1, [[0.2, np.nan, np.nan, np.nan], [np.nan, np.nan, 0.5, 0.3],
                                       [np.nan] * 4])
    np.testing.assert_allclose(grid2, [[0.4, np.nan, np.nan, np.nan], [np.nan] * 4, [np.nan, 0.6, np.nan, np.nan]])
    assert "0.400" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="distribution policy"):
        plot_policy_distribution(PolicyGenotype.from_string("randaugment:n=2,m=9"))
