"""The NAS-Bench-201 cell genotype: string codec, isomorphism keys and the index order.

The canonical string is exactly the benchmark's `ArchitectureString`::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

Two keys identify cells that compute the same function:

- `unique_str()` is the benchmark authors' `Structure.to_unique_str(consider_zero=True)`:
  each node is written as the sorted `+`-sum of its incoming terms, an edge `op` from a
  node `x` is `(x)@op`, `skip_connect` passes `x` through unchanged, and `none` (or any op
  fed by a node written exactly `#`) is `#`. It reproduces the `UniqueString` column of the
  NAS-Bench-201 tables for all 15,625 cells (6,466 classes, the paper's count).
- `iso_key()` goes one step further: zero terms are dropped from every sum (so `#` only
  stands for a node that is identically zero), which makes the key invariant under any
  relabelling of the intermediate nodes and ignores every edge that cannot reach the
  output or is fed only by zero. Cells with the same `unique_str()` always have the same
  `iso_key()`; on the benchmark `iso_key()` has fewer classes (see the tests).
  Like the authors' key it treats a parametric op applied to zero as zero (it ignores the
  BatchNorm shift such an op adds).

`all_nb201_genotypes()` enumerates the space in the benchmark's index order: the authors'
`Structure.gen_all` order, shuffled by `random.seed(88); random.shuffle(...)` (Python's
shuffle is stable across versions); index i is row i of the benchmark tables.

References:
    - Dong & Yang, NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
      Search, arXiv 2001.00326.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from typing import Any, ClassVar
from collections.abc import Iterable

from tfnas.genotypes.base import GENOTYPE_CLASSES, Genotype
from tfnas.spaces import nb201 as nb201_space

_ZERO = "#"


@dataclasses.dataclass(frozen=True)
class NB201Genotype(Genotype):
    """A NAS-Bench-201 cell: one op per edge, edges in architecture-string order.

    `ops[k]` is the op of edge `tfnas.spaces.nb201.EDGES[k]`, i.e. the order
    `1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2`.

    References:
        - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.

    Args:
        ops: Six op names from `tfnas.spaces.nb201.OPS`.

    Raises:
        ValueError: for a wrong number of edges or an unknown op.

    Example:
    >>> g = NB201Genotype.from_string(
    ...     "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
    ...     "+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    >>> g.ops[3]
    'skip_connect'
    """

    space: ClassVar[str] = "nb201"
    format: ClassVar[str] = "tfnas.nb201_cell/1"

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.ops, str) or not isinstance(self.ops, Iterable):
            raise ValueError(f"ops must be a sequence of 6 op names. Received: ops={self.ops!r}")
        object.__setattr__(self, "ops", tuple(self.ops))
        nb201_space.validate(self)

    # ------------------------------------------------------------------ structure
    @property
    def nodes(self) -> tuple[tuple[tuple[str, int], ...], ...]:
        """Returns the reference `Structure` layout: per node 1..3, its `(op, input)` pairs."""
        result: list[list[tuple[str, int]]] = [[] for _ in range(nb201_space.NUM_NODES - 1)]
        for op, (node, j) in zip(self.ops, nb201_space.EDGES):
            result[node - 1].append((op, j))
        return tuple(tuple(node) for node in result)

    # ------------------------------------------------------------------ string codec
    def to_string(self) -> str:
        return "+".join(
            "|" + "|".join(f"{op}~{j}" for op, j in node) + "|" for node in self.nodes
        )

    @classmethod
    def from_string(cls, text: str) -> NB201Genotype:
        if not isinstance(text, str):
            raise ValueError(f"A NAS-Bench-201 string must be a str. Received: {text!r}")
        text = text.strip()
        groups = text.split("+")
        if len(groups) != nb201_space.NUM_NODES - 1:
            raise ValueError(
                f"A NAS-Bench-201 string has {nb201_space.NUM_NODES - 1} '+'-separated nodes. "
                f"Received {len(groups)}: {text!r}"
            )
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
                raise ValueError(
                    f"Node {node} must look like '|op~0|...|'. Received: {group!r} in {text!r}"
                )
            tokens = group[1:-1].split("|")
            if len(tokens) != node:
                raise ValueError(
                    f"Node {node} must have {node} incoming edges (from nodes 0..{node - 1}). "
                    f"Received {len(tokens)}: {group!r}"
                )
            for j, token in enumerate(tokens):
                op, sep, index = token.partition("~")
                if not sep or not index.isdigit():
                    raise ValueError(f"Edge {token!r} of node {node} must look like 'op~input'.")
                if int(index) != j:
                    raise ValueError(
                        f"Edge {j} of node {node} must come from node {j} (edges are listed "
                        f"by input, 0..{node - 1}). Received: {token!r}"
                    )
                if op not in nb201_space.OPS:
                    raise ValueError(
                        f"Unknown NAS-Bench-201 op {op!r} on edge {j}->{node}. "
                        f"Known ops: {', '.join(nb201_space.OPS)}."
                    )
                ops.append(op)
        return cls(tuple(ops))

    @classmethod
    def looks_like(cls, text: str) -> bool:
        return isinstance(text, str) and text.strip().startswith("|") and "~" in text

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON form: format, space, the canonical string and the edge list."""
        return {
            "format": self.format,
            "space": self.space,
            "genotype": self.to_string(),
            "edges": [
                {"from": j, "to": node, "op": op}
                for op, (node, j) in zip(self.ops, nb201_space.EDGES)
            ],
        }

    # ------------------------------------------------------------------ isomorphism
    def unique_str(self) -> str:
        """Returns the benchmark's `UniqueString` (authors' `to_unique_str(consider_zero=True)`).

        Example:
        >>> NB201Genotype(("skip_connect",) * 6).unique_str()
        '0+0+0+0'
        """
        nodes = {0: "0"}
        for i, node in enumerate(self.nodes, start=1):
            terms = []
            for op, j in node:
                if op == "none" or nodes[j] == _ZERO:
                    terms.append(_ZERO)
                elif op == "skip_connect":
                    terms.append(nodes[j])
                else:
                    terms.append(f"({nodes[j]})@{op}")
            nodes[i] = "+".join(sorted(terms))
        return nodes[nb201_space.NUM_NODES - 1]

    def iso_key(self) -> str:
        """Returns a key shared by exactly the cells with the same computation graph.

        The output node is expanded into a sorted sum of terms as in `unique_str()`, but
        zero terms are removed from every sum, so disconnected and zero-fed edges vanish
        and node relabellings give the same key; a cell whose output is identically zero
        gets `'#'`.

        Example:
        >>> a = NB201Genotype.from_string(
        ...     "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
        >>> b = NB201Genotype.from_string(
        ...     "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
        >>> a.iso_key() == b.iso_key()
        True
        """
        nodes = {0: "0"}
        for i, node in enumerate(self.nodes, start=1):
            terms = []
            for op, j in node:
                if op == "none" or nodes[j] == _ZERO:
                    continue
                terms.append(nodes[j] if op == "skip_connect" else f"({nodes[j]})@{op}")
            nodes[i] = "+".join(sorted(terms)) if terms else _ZERO
        return nodes[nb201_space.NUM_NODES - 1]


def all_nb201_genotypes() -> list[NB201Genotype]:
    """Returns the 15,625 NAS-Bench-201 cells in the benchmark's index order.

    Reproduces the authors' `generate_meta_info`: all cells in `Structure.gen_all` order
    (node by node, edges varying fastest within the last node, ops in `OPS` order), then
    `random.seed(88); random.shuffle(...)`. A private `random.Random(88)` is used, so the
    global random state is untouched. Element i is row i of the benchmark tables.

    Example:
    >>> all_nb201_genotypes()[0].to_string()
    '|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|'
    """
    per_node = [
        list(itertools.product(nb201_space.OPS, repeat=node))
        for node in range(1, nb201_space.NUM_NODES)
    ]
    cells = [
        NB201Genotype(tuple(itertools.chain.from_iterable(choice)))
        for choice in itertools.product(*per_node)
    ]
    random.Random(88).shuffle(cells)
    return cells


GENOTYPE_CLASSES.register("nb201", NB201Genotype)
