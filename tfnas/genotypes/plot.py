"""Pictures of searched cells and of architecture weights over a search (matplotlib, Agg).

`plot_cell(genotype, path)` draws a derived cell as a left-to-right DAG: for a DARTS
genotype the normal and the reduction cell side by side (inputs `c_{k-2}`, `c_{k-1}`,
intermediate nodes `0..3`, output `c_{k}` fed by the concatenated nodes), for a
NAS-Bench-201 genotype the one cell (input node, nodes 1 and 2, output node; `none` edges
dotted). Every edge carries its op's name.

`plot_arch_history(states, path)` plots a search's architecture weights over the epochs
from the list of per-epoch `Supernet.arch_state()` dicts: one subplot per cell type
(`normal`, `reduce`, `cell`, ...), one line per op (its probability averaged over the
edges of that cell type), plus one subplot per other state array (edge weights, topology
probabilities), one line per edge.

Figures are drawn on matplotlib's Agg canvas directly (`Figure` + `FigureCanvasAgg`, no
pyplot), so no display is needed, the global backend is left alone, and no figure is kept
alive by pyplot's registry; no graphviz.

References:
    - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055 (the cell
      pictures follow its `visualize.py` layout).
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

Example:
>>> from tfnas.genotypes import load
>>> fig = plot_cell(load("darts_v2"), "/tmp/darts_v2.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.figure
import matplotlib.patches
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from tfnas.genotypes.base import Genotype
from tfnas.genotypes.cell import DartsGenotype
from tfnas.genotypes.nb201 import NB201Genotype
from tfnas.spaces import darts as darts_space
from tfnas.spaces import nb201 as nb201_space

#: A colour per op name (ops not listed get grey).
OP_COLORS: dict[str, str] = {
    "none": "#9e9e9e",
    "skip_connect": "#d62728",
    "max_pool_3x3": "#8c564b",
    "avg_pool_3x3": "#e377c2",
    "sep_conv_3x3": "#1f77b4",
    "sep_conv_5x5": "#17becf",
    "dil_conv_3x3": "#2ca02c",
    "dil_conv_5x5": "#bcbd22",
    "nor_conv_1x1": "#ff7f0e",
    "nor_conv_3x3": "#1f77b4",
}
_NODE_STYLE = {
    "input": ("#a6d96a", "black"),
    "inner": ("#fee08b", "black"),
    "output": ("#92c5de", "black"),
}


def _new_figure(width: float, height: float) -> matplotlib.figure.Figure:
    fig = matplotlib.figure.Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: matplotlib.figure.Figure, path: str | os.PathLike | None) -> None:
    if path is None:
        return
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=fig.dpi, bbox_inches="tight")


def _draw_node(ax, xy: tuple[float, float], label: str, kind: str, width: float | None = None) -> None:
    face, edge = _NODE_STYLE[kind]
    if width is None:
        width = 0.85 if kind != "inner" else 0.4
    box = matplotlib.patches.FancyBboxPatch(
        (xy[0] - width / 2, xy[1] - 0.17), width, 0.34,
        boxstyle="round,pad=0.02,rounding_size=0.12", facecolor=face, edgecolor=edge, linewidth=1.2, zorder=3,
    )
    ax.add_patch(box)
    ax.text(xy[0], xy[1], label, ha="center", va="center", fontsize=10, zorder=4)


def _draw_edge(
    ax, start: tuple[float, float], end: tuple[float, float], label: str | None, rad: float, *,
    color: str = "black", style: str = "-", label_t: float = 0.5,
) -> None:
    arrow = matplotlib.patches.FancyArrowPatch(
        start, end, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>", mutation_scale=11,
        color=color, linestyle=style, linewidth=1.3, shrinkA=16, shrinkB=16, zorder=1,
    )
    ax.add_patch(arrow)
    if label is None:
        return
    # Point of arc3's quadratic Bezier at parameter t (control point offset rad * (dy, -dx)).
    (x1, y1), (x2, y2) = start, end
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    t = label_t
    x = (1 - t) ** 2 * x1 + 2 * t * (1 - t) * cx + t**2 * x2
    y = (1 - t) ** 2 * y1 + 2 * t * (1 - t) * cy + t**2 * y2
    ax.text(
        x, y, label, ha="center", va="center", fontsize=7.5, color=color, zorder=2,
        bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
    )


def _finish_axes(ax, title: str | None, xs: Sequence[float], ys: Sequence[float]) -> None:
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)


def draw_darts_cell(ax, edges: Sequence[tuple[str, int]], concat: Sequence[int], title: str | None = None) -> None:
    """Draws one DARTS cell on `ax`.

    Layout: the intermediate nodes on a horizontal line, `c_{k-2}` above-left and
    `c_{k-1}` below-left of it; edges from `c_{k-2}` arc above the line, edges from
    `c_{k-1}` and between non-adjacent nodes arc below it, so labels do not collide;
    the concatenated nodes feed `c_{k}` (grey, dashed).

    Args:
        ax: A matplotlib `Axes`.
        edges: `(op, input)` pairs, two per intermediate node (input 0 = `c_{k-2}`,
            1 = `c_{k-1}`, `j + 2` = node `j`).
        concat: Nodes (genotype indices, 2 = node 0) concatenated into the output.
        title: Optional axes title.
    """
    steps = len(edges) // 2
    step_x = 2.2
    positions: dict[int, tuple[float, float]] = {0: (0.0, 1.5), 1: (0.0, -1.5)}
    for k in range(steps):
        positions[k + 2] = (2.0 + step_x * k, 0.0)
    out = (2.0 + step_x * steps, 0.0)
    for node, xy in positions.items():
        if node == 0:
            _draw_node(ax, xy, "$c_{k-2}$", "input")
        elif node == 1:
            _draw_node(ax, xy, "$c_{k-1}$", "input")
        else:
            _draw_node(ax, xy, str(node - 2), "inner")
    _draw_node(ax, out, "$c_{k}$", "output")
    for i, (op, j) in enumerate(edges):
        target = i // 2 + 2
        start, end = positions[j], positions[target]
        if j == 0:
            rad = -0.25  # above the line (arc3 bows left of the direction of travel)
        elif j == 1:
            rad = 0.25  # below the line
        elif target - j == 1:
            rad = 0.0
        else:
            rad = 0.35  # skip over nodes, below
        color = OP_COLORS.get(op, "#555555")
        _draw_edge(ax, start, end, op, rad, color=color)
    for node in concat:
        start = positions[node]
        rad = 0.0 if node == steps + 1 else -0.3
        _draw_edge(ax, start, out, None, rad, color="#9e9e9e", style="--")
    xs = [p[0] for p in positions.values()] + [out[0]]
    ys = [p[1] for p in positions.values()] + [out[1], 2.1, -2.1]
    _finish_axes(ax, title, xs, ys)


def draw_nb201_cell(ax, genotype: NB201Genotype, title: str | None = None) -> None:
    """Draws a NAS-Bench-201 cell on `ax` (`none` edges dotted grey).

    Layout: the four nodes on a line; adjacent nodes joined straight, `0->2` and `0->3`
    arcs above, `1->3` below.

    Args:
        ax: A matplotlib `Axes`.
        genotype: The cell.
        title: Optional axes title.
    """
    positions = {n: (2.2 * n, 0.0) for n in range(nb201_space.NUM_NODES)}
    names = {0: "in (0)", 1: "1", 2: "2", 3: "out (3)"}
    for node, xy in positions.items():
        kind = "input" if node == 0 else "output" if node == nb201_space.NUM_NODES - 1 else "inner"
        _draw_node(ax, xy, names[node], kind, width=1.0 if kind != "inner" else None)
    bends = {(2, 0): -0.32, (3, 0): -0.36, (3, 1): 0.32}
    for op, (node, j) in zip(genotype.ops, nb201_space.EDGES):
        color = OP_COLORS.get(op, "#555555")
        _draw_edge(ax, positions[j], positions[node], op, bends.get((node, j), 0.0), color=color,
                   style=":" if op == "none" else "-")
    xs = [p[0] for p in positions.values()]
    _finish_axes(ax, title, xs, [-1.3, 1.6])


def draw_rnn_cell(ax, ops: Sequence[str], inputs: Sequence[int], loose_ends: Sequence[int],
                  title: str | None = None) -> None:
    """Draws a recurrent (AutoRNN / ENAS) cell on `ax`.

    Layout: `x_t, h_{t-1}` at the left, the nodes on a line labelled with their activation,
    each node's connection an arrow from the node it reads (arcs above the line when they
    skip nodes), and the loose ends averaged into `h_t` (grey, dashed).

    Args:
        ax: A matplotlib `Axes`.
        ops: Activation of each node.
        inputs: The node each node reads (-1 for node 0: the step's input and state).
        loose_ends: Nodes averaged into the new state.
        title: Optional axes title.
    """
    positions = {-1: (0.0, 0.0)}
    for i in range(len(ops)):
        positions[i] = (2.8 + 3.0 * i, 0.0)
    out = (2.6 + 3.0 * len(ops), 0.0)
    _draw_node(ax, positions[-1], "$x_t, h_{t-1}$", "input", width=1.8)
    for i, op in enumerate(ops):
        _draw_node(ax, positions[i], f"{i}: {op}", "inner", width=2.0)
    _draw_node(ax, out, "$h_t$", "output")
    half = {-1: 0.9}
    for i, j in enumerate(inputs):
        if i - j == 1:  # straight, from box edge to box edge so the head shows
            start = (positions[j][0] + half.get(j, 1.0) - 0.3, 0.0)
            _draw_edge(ax, start, (positions[i][0] - 0.7, 0.0), None, 0.0)
        else:
            _draw_edge(ax, positions[j], positions[i], None, -0.3)
    for node in loose_ends:
        _draw_edge(ax, positions[node], out, None, 0.0 if node == len(ops) - 1 else 0.3, color="#9e9e9e",
                   style="--")
    xs = [p[0] for p in positions.values()] + [out[0], -0.5]
    _finish_axes(ax, title, xs, [-1.4, 1.6])


def save_rnn_cell_plot(ops: Sequence[str], inputs: Sequence[int], loose_ends: Sequence[int],
                       path: str | os.PathLike, title: str | None = None) -> None:
    """Writes `draw_rnn_cell`'s picture to `path` (PNG)."""
    fig = _new_figure(2.2 * len(ops) + 3.0, 2.6)
    draw_rnn_cell(fig.add_subplot(1, 1, 1), ops, inputs, loose_ends, title)
    _save(fig, path)


def plot_cell(
    genotype: Genotype, path: str | os.PathLike | None = None, *, title: str | None = None
) -> matplotlib.figure.Figure:
    """Draws a derived cell genotype as a DAG and optionally saves it as a PNG.

    Args:
        genotype: A `DartsGenotype` (normal and reduction cell side by side) or an
            `NB201Genotype`.
        path: Where to save the picture (`.png`); None: only return the figure.
        title: Figure title (an NB201 picture always shows the cell's string under it).

    Returns:
        The matplotlib `Figure` (Agg canvas).

    Raises:
        TypeError: for a genotype of another space.

    Example:
    >>> from tfnas.genotypes import NB201Genotype
    >>> fig = plot_cell(NB201Genotype(("nor_conv_3x3",) * 6))
    >>> len(fig.axes)
    1
    """
    if isinstance(genotype, DartsGenotype):
        fig = _new_figure(16.0, 4.6)
        for k, reduction in enumerate((False, True)):
            edges, concat = genotype.cell(reduction)
            ax = fig.add_subplot(1, 2, k + 1)
            draw_darts_cell(ax, edges, concat, "reduction cell" if reduction else "normal cell")
        if title:
            fig.suptitle(title, fontsize=10)
    elif isinstance(genotype, NB201Genotype):
        fig = _new_figure(7.5, 4.4)
        ax = fig.add_subplot(1, 1, 1)
        draw_nb201_cell(ax, genotype, "NAS-Bench-201 cell")
        # The title above, the cell's string below the drawing: a laid-out figure keeps the
        # three texts apart (tested: their boxes do not overlap).
        fig.set_layout_engine("constrained")
        if title:
            fig.suptitle(title, fontsize=10)
        fig.supxlabel(genotype.to_string(), fontsize=7)
    else:
        raise TypeError(
            "plot_cell draws DartsGenotype and NB201Genotype cells. "
            f"Received: {type(genotype).__name__}"
        )
    _save(fig, path)
    return fig


def _op_names(width: int, key: str, op_names: Mapping[str, Sequence[str]] | Sequence[str] | None) -> list[str]:
    if isinstance(op_names, Mapping):
        names = op_names.get(key) or op_names.get(key.split("/")[0])
        if names is not None:
            return list(names)
    elif op_names is not None:
        return list(op_names)
    candidates = [
        darts_space.OPS,
        darts_space.CHILD_OPS,
        nb201_space.OPS,
        tuple(op for op in nb201_space.OPS if op != "none"),
    ]
    for ops in candidates:
        if len(ops) == width:
            return list(ops)
    return [f"op {i}" for i in range(width)]


def plot_policy_distribution(
    policy: Any, path: str | os.PathLike | None = None, *, title: str | None = None
) -> matplotlib.figure.Figure:
    """Draws a searched augmentation policy (a `distribution` `PolicyGenotype`): one heatmap per
    stage, ops by rows and magnitude levels by columns, each cell the final probability of that
    (op, level) entry (ops without a magnitude in the level-0 column); the apply probability in
    the title.

    Raises:
        ValueError: for a policy that is not a `distribution`.

    Example:
    >>> from tfnas.genotypes.policy import PolicyGenotype
    >>> g = PolicyGenotype.from_string("distribution:apply=0.5|Identity@0=0.25,Rotate@5=0.75")
    >>> len(plot_policy_distribution(g).axes)  # the stage and its colour bar
    2
    """
    if getattr(policy, "kind", None) != "distribution":
        raise ValueError(f"plot_policy_distribution draws a distribution policy. Received: {policy!r}")
    stages = policy.stages
    ops = list(dict.fromkeys(op for stage in stages for op, _, _ in stage))
    levels = sorted({level for stage in stages for _, level, _ in stage})
    fig = _new_figure(1.2 + 0.9 * len(levels) * len(stages) + 1.5 * len(stages), 0.8 + 0.28 * len(ops))
    top = max(p for stage in stages for _, _, p in stage)
    for i, stage in enumerate(stages):
        grid = np.full((len(ops), len(levels)), np.nan)
        for op, level, p in stage:
            grid[ops.index(op), levels.index(level)] = p
        ax = fig.add_subplot(1, len(stages), i + 1)
        image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=top, aspect="auto")
        for (r, c), p in np.ndenumerate(grid):
            if np.isfinite(p):
                ax.text(c, r, f"{p:.3f}", ha="center", va="center", fontsize=6,
                        color="white" if p < 0.6 * top else "black")
        ax.set_xticks(range(len(levels)), [f"{level:g}" for level in levels], fontsize=7)
        ax.set_yticks(range(len(ops)), ops if i == 0 else [""] * len(ops), fontsize=7)
        ax.set_xlabel("magnitude level", fontsize=8)
        ax.set_title(f"stage {i + 1}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.08, pad=0.02).ax.tick_params(labelsize=6)
    fig.suptitle(title or f"final policy: apply probability {policy.apply:.3f}", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return fig


def line_styles(names: Sequence[str]) -> list[dict[str, Any]]:
    """One distinct `(color, linestyle)` per line: the cell ops' own colors when every name has
    one, else matplotlib's 20 qualitative `tab20` colors, dashed past the 20th (an augmentation
    stage has 20 ops; the default cycle repeats after 10, so two ops would share a color).

    >>> [s["color"] for s in line_styles(["none", "skip_connect"])] == [OP_COLORS["none"], OP_COLORS["skip_connect"]]
    True
    >>> len({(s["color"], s["linestyle"]) for s in line_styles([f"op{i}" for i in range(30)])})
    30
    """
    if all(name in OP_COLORS for name in names):
        return [{"color": OP_COLORS[name], "linestyle": "-"} for name in names]
    import matplotlib

    palette = matplotlib.colormaps["tab20"].colors
    styles = ("-", "--", ":", "-.")
    return [{"color": palette[j % 20], "linestyle": styles[(j // 20) % 4]} for j in range(len(names))]


def _edge_labels(count: int) -> list[str]:
    """Names `count` edges `input->node` when the count matches a DARTS or NB201 cell."""
    darts = {len(darts_space.supernet_edges(k)): darts_space.supernet_edges(k) for k in range(1, 7)}
    names = {0: "k-2", 1: "k-1"}
    if count == len(nb201_space.EDGES):
        return [f"{j}->{node}" for node, j in nb201_space.EDGES]
    if count in darts:
        return [f"{names.get(j, j - 2)}->{node - 2}" for node, j in darts[count]]
    return [str(i) for i in range(count)]


def _is_op_weights(key: str, array: np.ndarray) -> bool:
    leaf = key.rsplit("/", 1)[-1]
    return array.ndim == 2 and leaf in ("alpha", "alphas", "op", "ops", "weights")


def plot_arch_history(
    states: Sequence[Mapping[str, Any]],
    path: str | os.PathLike | None = None,
    *,
    op_names: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    title: str | None = None,
) -> matplotlib.figure.Figure:
    """Plots architecture weights over the epochs of a search.

    Each element of `states` is one epoch's `Supernet.arch_state()`: a dict of named
    probability arrays. An `[edges, ops]` array named `<cell>/alpha` becomes one subplot
    titled `<cell>` with one line per op: its probability averaged over the edges. Any
    other array (e.g. `normal/edge`, edge-normalisation or topology weights) gets its own
    subplot with one line per entry (flattened; at most 16 lines, the rest averaged away).

    Args:
        states: Per-epoch arch states, oldest first (epoch 1 = `states[0]`).
        path: Where to save the PNG; None: only return the figure.
        op_names: The ops of the columns: one list for every cell type, or a dict
            `{key or cell type: names}`; default inferred from the width (DARTS 8 ops,
            DARTS without `none` 7, NB201 5, NB201 without `none` 4).
        title: Optional figure title.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: if `states` is empty or an epoch lacks a key of the first one.

    Example:
    >>> import numpy as np
    >>> states = [{"cell/alpha": np.full((6, 5), 0.2)}, {"cell/alpha": np.eye(6, 5)}]
    >>> fig = plot_arch_history(states)
    >>> len(fig.axes)
    1
    """
    if not states:
        raise ValueError("plot_arch_history needs at least one epoch's arch state. Received: states=[]")
    keys = list(states[0].keys())
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        try:
            arrays[key] = np.stack([np.asarray(s[key], dtype=np.float64) for s in states])
        except KeyError:
            raise ValueError(f"Every epoch's arch state must have the key {key!r}; one does not.") from None
    epochs = np.arange(1, len(states) + 1)
    panels = len(keys)
    cols = min(2, panels)
    rows = (panels + cols - 1) // cols
    fig = _new_figure(6.5 * cols, 3.6 * rows)
    for n, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, n + 1)
        history = arrays[key]  # [epochs, ...]
        if _is_op_weights(key, history[0]):
            names = _op_names(history.shape[-1], key, op_names)
            mean = history.mean(axis=1)  # average over edges
            for j, (name, style) in enumerate(zip(names, line_styles(names))):
                ax.plot(epochs, mean[:, j], marker="o", markersize=3, label=name, **style)
            ax.set_title(f"{key.rsplit('/', 1)[0]}: op weights (mean over {history.shape[1]} edges)", fontsize=10)
            ax.set_ylabel("probability")
        else:
            flat = history.reshape(len(states), -1)
            if flat.shape[1] > 16:
                flat = flat.reshape(len(states), 16, -1).mean(axis=2) if flat.shape[1] % 16 == 0 else flat[:, :16]
            labels = _edge_labels(flat.shape[1])
            for j, style in enumerate(line_styles(labels)):
                ax.plot(epochs, flat[:, j], marker="o", markersize=3, label=labels[j], **style)
            ax.set_title(f"{key} (one line per entry)", fontsize=10)
            ax.set_ylabel("weight")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2 if ax.get_legend_handles_labels()[1].__len__() > 8 else 1, loc="best")
        if len(states) == 1:
            ax.set_xlim(0.5, 1.5)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return fig
