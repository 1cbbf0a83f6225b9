"""The DARTS cell search space: labelled choices and the validity check (no TensorFlow).

A DARTS cell (arXiv 1806.09055) is a DAG with two input nodes (the outputs of the two
previous cells, numbered 0 and 1) and `STEPS` intermediate nodes (numbered 2, 3, ...).
The search supernet has an edge from every earlier node to every intermediate node
(2 + 3 + 4 + 5 = 14 edges for 4 steps), each a choice among `OPS`. A derived genotype keeps
exactly `EDGES_PER_NODE` = 2 incoming edges per intermediate node, never `none`, and the
cell output is the channel concatenation of the nodes in `concat` (all intermediate nodes
by default).

References:
    - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterable, Sequence

#: Candidate operations, in the order of the reference `PRIMITIVES` list.
OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: The operations a derived (child) cell may use: every op but `none`.
CHILD_OPS: tuple[str, ...] = tuple(op for op in OPS if op != "none")
#: Input nodes of a cell (outputs of cell k-2 and k-1).
NUM_INPUTS: int = 2
#: Intermediate nodes of the standard DARTS cell.
STEPS: int = 4
#: Incoming edges kept per intermediate node in a derived genotype.
EDGES_PER_NODE: int = 2


def default_concat(steps: int = STEPS) -> tuple[int, ...]:
    """Returns the default concat: every intermediate node, `(2, ..., steps + 1)`."""
    return tuple(range(NUM_INPUTS, NUM_INPUTS + steps))


def supernet_edges(steps: int = STEPS) -> tuple[tuple[int, int], ...]:
    """Returns the supernet's edges as `(node, input)` pairs in the reference order.

    Edges are ordered node by node, inputs ascending: `(2, 0), (2, 1), (3, 0), (3, 1),
    (3, 2), ...`; this is the row order of the reference `alphas_normal` matrix.

    Example:
    >>> len(supernet_edges())
    14
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer. Received: steps={steps!r}")
    return tuple(
        (node, j)
        for node in range(NUM_INPUTS, NUM_INPUTS + steps)
        for j in range(node)
    )


def validate_cell(
    edges: Sequence[tuple[str, int]],
    concat: Iterable[int],
    *,
    kind: str = "normal",
    steps: int | None = None,
) -> None:
    """Checks one derived cell: `edges` = (op, input) pairs, 2 per intermediate node.

    Args:
        edges: Flat sequence of `(op, input)` pairs; pairs `2k` and `2k + 1` feed
            intermediate node `k + 2`.
        concat: Node indices concatenated into the cell output.
        kind: `"normal"` or `"reduce"`, used in error messages.
        steps: Required number of intermediate nodes; None accepts any positive number.

    Raises:
        ValueError: naming the cell, the node and what is wrong (unknown op, `none`,
            input index out of range, wrong number of edges, bad concat).
    """
    edges = tuple(edges)
    if len(edges) == 0 or len(edges) % EDGES_PER_NODE:
        raise ValueError(
            f"The {kind} cell needs {EDGES_PER_NODE} edges per intermediate node, so an even, "
            f"non-zero number of edges. Received: {len(edges)} edges."
        )
    num_steps = len(edges) // EDGES_PER_NODE
    if steps is not None and num_steps != steps:
        raise ValueError(
            f"The {kind} cell must have {steps} intermediate nodes ({steps * EDGES_PER_NODE} "
            f"edges). Received: {num_steps} nodes ({len(edges)} edges)."
        )
    for position, edge in enumerate(edges):
        node = NUM_INPUTS + position // EDGES_PER_NODE
        if not (isinstance(edge, tuple) and len(edge) == 2):
            raise ValueError(
                f"Each {kind} edge must be an (op, input) pair. Received: {edge!r} for node {node}."
            )
        op, index = edge
        if op == "none":
            raise ValueError(
                f"The {kind} cell uses 'none' on an edge into node {node}; a derived DARTS "
                "genotype never keeps 'none' (it is excluded at derivation)."
            )
        if op not in OPS:
            raise ValueError(
                f"Unknown DARTS op {op!r} on an edge into {kind} node {node}. "
                f"Known ops: {', '.join(CHILD_OPS)}."
            )
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < node:
            raise ValueError(
                f"Input index out of range for {kind} node {node}: it can take inputs "
                f"0..{node - 1}. Received: input={index!r} (op {op!r})."
            )
    concat = tuple(concat)
    valid = range(NUM_INPUTS, NUM_INPUTS + num_steps)
    if not concat:
        raise ValueError(f"The {kind} concat is empty; it must list intermediate nodes.")
    for index in concat:
        if isinstance(index, bool) or not isinstance(index, int) or index not in valid:
            raise ValueError(
                f"Bad {kind}_concat: it may only list intermediate nodes "
                f"{valid.start}..{valid.stop - 1}. Received: {kind}_concat={list(concat)}"
            )
    if list(concat) != sorted(set(concat)):
        raise ValueError(
            f"Bad {kind}_concat: indices must be strictly increasing. "
            f"Received: {kind}_concat={list(concat)}"
        )


def validate(genotype: Any, *, steps: int | None = STEPS) -> None:
    """Checks a DARTS genotype (anything with `normal`, `normal_concat`, `reduce`,
    `reduce_concat`) against the space.

    Args:
        genotype: A `tfnas.genotypes.cell.DartsGenotype` or an object with the same fields.
        steps: Required intermediate nodes per cell (4 in the DARTS space); None accepts
            any positive number (smaller cells for tests and ablations).

    Raises:
        ValueError: saying which cell and node is wrong and why.

    Example:
    >>> from tfnas.genotypes.published_cells import DARTS_V2
    >>> validate(DARTS_V2)
    """
    for kind in ("normal", "reduce"):
        if not hasattr(genotype, kind) or not hasattr(genotype, f"{kind}_concat"):
            raise ValueError(
                f"A DARTS genotype needs '{kind}' and '{kind}_concat' fields. "
                f"Received: {type(genotype).__name__}"
            )
        validate_cell(
            tuple(tuple(e) if isinstance(e, list) else e for e in getattr(genotype, kind)),
            getattr(genotype, f"{kind}_concat"),
            kind=kind,
            steps=steps,
        )
