"""The NAS-Bench-201 cell search space: labelled choices and the validity check (no TF).

A NAS-Bench-201 cell (arXiv 2001.00326) has 4 nodes: node 0 is the cell input, node 3 the
output, and every node j > i is fed by an edge from node i: 6 edges, each one of 5 ops,
every edge kept, 5 ** 6 = 15,625 cells. A node is the sum of its incoming edges.

References:
    - Dong & Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
      Search, arXiv 2001.00326.
"""

from __future__ import annotations

from typing import Any

#: Candidate operations, in the order of the reference `NAS_BENCH_201` list.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Nodes of a cell, input and output included.
NUM_NODES: int = 4
#: The 6 edges as `(node, input)` pairs, in the order of the architecture string
#: (`|e(1,0)|+|e(2,0)|e(2,1)|+|e(3,0)|e(3,1)|e(3,2)|`).
EDGES: tuple[tuple[int, int], ...] = tuple(
    (node, j) for node in range(1, NUM_NODES) for j in range(node)
)
#: Number of cells in the space.
NUM_CELLS: int = len(OPS) ** len(EDGES)
#: The NAS-Bench-201 paper's ResNet cell: two 3x3 convolutions in sequence (0 -> 1 -> 2)
#: and the shortcut 0 -> 3, summed at node 3 with node 2 through `skip_connect~2`; table
#: CIFAR-10 accuracy 93.91 (arXiv 2001.00326, Fig. 1).
RESNET_CELL: str = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def validate(genotype: Any) -> None:
    """Checks a NAS-Bench-201 genotype (anything with an `ops` tuple of 6 op names).

    Args:
        genotype: A `tfnas.genotypes.nb201.NB201Genotype` or an object with `ops`.

    Raises:
        ValueError: naming the edge and the unknown op, or the wrong number of edges.

    Example:
    >>> from tfnas.genotypes.nb201 import NB201Genotype
    >>> validate(NB201Genotype(("nor_conv_3x3",) * 6))
    """
    ops = getattr(genotype, "ops", None)
    if not isinstance(ops, (tuple, list)):
        raise ValueError(
            f"A NAS-Bench-201 genotype needs an 'ops' tuple. Received: {type(genotype).__name__}"
        )
    if len(ops) != len(EDGES):
        raise ValueError(
            f"A NAS-Bench-201 cell has {len(EDGES)} edges. Received: {len(ops)} ops {tuple(ops)}"
        )
    for op, (node, j) in zip(ops, EDGES):
        if op not in OPS:
            raise ValueError(
                f"Unknown NAS-Bench-201 op {op!r} on edge {j}->{node}. Known ops: {', '.join(OPS)}."
            )


def canonical_edge_ops(edge_ops: Any) -> tuple[tuple[str, ...], ...]:
    """Checks a sub-space (one non-empty op subset per edge) and puts each subset in `OPS` order.

    Args:
        edge_ops: 6 sequences of distinct op names, edge `i` of `EDGES` first.

    Raises:
        ValueError: for a wrong edge count, an empty edge, an unknown or repeated op.

    Example:
    >>> canonical_edge_ops([["nor_conv_3x3", "none"]] * 6)[0]
    ('none', 'nor_conv_3x3')
    """
    if not isinstance(edge_ops, (list, tuple)) or len(edge_ops) != len(EDGES):
        count = len(edge_ops) if isinstance(edge_ops, (list, tuple)) else type(edge_ops).__name__
        raise ValueError(
            f"edge_ops needs {len(EDGES)} edges, one op subset per NB201 edge. Received: {count} ({edge_ops!r})"
        )
    result = []
    for k, ops in enumerate(edge_ops):
        if isinstance(ops, str) or not isinstance(ops, (list, tuple)) or not ops:
            raise ValueError(f"edge_ops[{k}] must be a non-empty list of op names. Received: {ops!r}")
        unknown = [op for op in ops if op not in OPS]
        if unknown or len(set(ops)) != len(ops):
            raise ValueError(f"edge_ops[{k}] must list distinct ops from {OPS}. Received: {tuple(ops)}")
        result.append(tuple(op for op in OPS if op in ops))
    return tuple(result)
