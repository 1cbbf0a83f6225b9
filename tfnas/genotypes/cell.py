"""The DARTS cell genotype: a frozen dataclass with a canonical string and JSON.

Canonical string (the NAS-Bench-201 `|op~input|` form, one `+`-separated group of two
edges per intermediate node, normal cell then reduction cell)::

    normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|sep_conv_3x3~0|sep_conv_3x3~1|+...;reduce=|...|

The concat lists are written only when they differ from the default (every intermediate
node, `2,3,4,5` for 4 steps), as `;normal_concat=2,3,5` and/or `;reduce_concat=...` after
the cells; `from_string` accepts the parts in any order, `to_string` always writes
`normal;reduce[;normal_concat][;reduce_concat]`. The order of the two edges of a node is
kept as given (the published genotypes' order), so it is part of equality.

References:
    - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar
from collections.abc import Iterable, Sequence

from tfnas.genotypes.base import GENOTYPE_CLASSES, Genotype
from tfnas.spaces import darts as darts_space

Edge = tuple[str, int]


def _edges(value: Iterable[Any], field: str) -> tuple[Edge, ...]:
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{field} must be a sequence of (op, input) pairs. Received: {value!r}")
    try:
        items = list(value)
    except TypeError:
        raise ValueError(
            f"{field} must be a sequence of (op, input) pairs. Received: {value!r}"
        ) from None
    edges = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"Each {field} edge must be an (op, input) pair. Received: {item!r}")
        edges.append((item[0], item[1]))
    return tuple(edges)


def _concat(value: Iterable[Any], field: str) -> tuple[int, ...]:
    try:
        return tuple(value)
    except TypeError:
        raise ValueError(f"{field} must be a sequence of node indices. Received: {value!r}") from None


@dataclasses.dataclass(frozen=True)
class DartsGenotype(Genotype):
    """A derived DARTS cell pair: normal and reduction cells.

    Fields mirror the reference `Genotype` namedtuple: `normal` and `reduce` are flat
    tuples of `(op, input)` pairs, two per intermediate node (pairs `2k`, `2k+1` feed node
    `k + 2`; inputs 0 and 1 are the two previous cells' outputs); `*_concat` are the nodes
    concatenated into the cell output. Lists and `range`s are accepted and stored as tuples.
    Cells with any positive number of intermediate nodes are accepted;
    `tfnas.spaces.darts.validate(g)` checks the standard 4.

    References:
        - Liu et al., DARTS: Differentiable Architecture Search, arXiv 1806.09055.

    Args:
        normal: `(op, input)` pairs of the normal cell.
        reduce: `(op, input)` pairs of the reduction cell.
        normal_concat: Nodes concatenated by the normal cell; default all intermediate.
        reduce_concat: Nodes concatenated by the reduction cell; default all intermediate.

    Raises:
        ValueError: for an unknown op, `none`, an input index out of range for its node,
            a wrong number of edges, or a bad concat.

    Example:
    >>> g = DartsGenotype.from_string(
    ...     "normal=|sep_conv_3x3~0|skip_connect~1|+|sep_conv_3x3~1|skip_connect~2|"
    ...     "+|max_pool_3x3~0|sep_conv_5x5~3|+|dil_conv_3x3~2|skip_connect~4|;"
    ...     "reduce=|max_pool_3x3~0|max_pool_3x3~1|+|skip_connect~2|max_pool_3x3~1|"
    ...     "+|max_pool_3x3~0|skip_connect~2|+|skip_connect~2|max_pool_3x3~1|")
    >>> g.normal[0]
    ('sep_conv_3x3', 0)
    """

    space: ClassVar[str] = "darts"
    format: ClassVar[str] = "tfnas.darts_cell/1"

    normal: tuple[Edge, ...]
    reduce: tuple[Edge, ...]
    normal_concat: tuple[int, ...] | None = None
    reduce_concat: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        for kind in ("normal", "reduce"):
            edges = _edges(getattr(self, kind), kind)
            object.__setattr__(self, kind, edges)
            concat = getattr(self, f"{kind}_concat")
            if concat is None:
                concat = darts_space.default_concat(max(len(edges) // 2, 1))
            object.__setattr__(self, f"{kind}_concat", _concat(concat, f"{kind}_concat"))
        darts_space.validate(self, steps=None)

    # ------------------------------------------------------------------ structure
    @property
    def normal_steps(self) -> int:
        """Intermediate nodes of the normal cell."""
        return len(self.normal) // darts_space.EDGES_PER_NODE

    @property
    def reduce_steps(self) -> int:
        """Intermediate nodes of the reduction cell."""
        return len(self.reduce) // darts_space.EDGES_PER_NODE

    def cell(self, reduction: bool) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        """Returns `(edges, concat)` of the reduction cell if `reduction`, else the normal one."""
        if reduction:
            return self.reduce, self.reduce_concat
        return self.normal, self.normal_concat

    # ------------------------------------------------------------------ string codec
    @staticmethod
    def _cell_to_string(edges: Sequence[Edge]) -> str:
        groups = []
        for k in range(0, len(edges), darts_space.EDGES_PER_NODE):
            pair = edges[k : k + darts_space.EDGES_PER_NODE]
            groups.append("|" + "|".join(f"{op}~{index}" for op, index in pair) + "|")
        return "+".join(groups)

    def to_string(self) -> str:
        parts = [
            "normal=" + self._cell_to_string(self.normal),
            "reduce=" + self._cell_to_string(self.reduce),
        ]
        for kind in ("normal", "reduce"):
            concat = getattr(self, f"{kind}_concat")
            steps = len(getattr(self, kind)) // darts_space.EDGES_PER_NODE
            if concat != darts_space.default_concat(steps):
                parts.append(f"{kind}_concat=" + ",".join(str(i) for i in concat))
        return ";".join(parts)

    @staticmethod
    def _parse_cell(text: str, kind: str) -> tuple[Edge, ...]:
        if not text:
            raise ValueError(f"The {kind} cell is empty.")
        edges: list[Edge] = []
        for node_offset, group in enumerate(text.split("+")):
            node = darts_space.NUM_INPUTS + node_offset
            if len(group) < 2 or not group.startswith("|") or not group.endswith("|"):
                raise ValueError(
                    f"Node {node} of the {kind} cell must look like '|op~input|op~input|'. "
                    f"Received: {group!r}"
                )
            tokens = group[1:-1].split("|")
            if len(tokens) != darts_space.EDGES_PER_NODE:
                raise ValueError(
                    f"Node {node} of the {kind} cell has {len(tokens)} edges, expected "
                    f"{darts_space.EDGES_PER_NODE}. Received: {group!r}"
                )
            for token in tokens:
                op, sep, index = token.partition("~")
                if not sep or not op or not index.isdigit():
                    raise ValueError(
                        f"Edge {token!r} of {kind} node {node} must look like 'op~input' "
                        "with a non-negative integer input."
                    )
                edges.append((op, int(index)))
        return tuple(edges)

    @staticmethod
    def _parse_concat(text: str, kind: str) -> tuple[int, ...]:
        items = text.split(",") if text else []
        if not items or not all(item.strip().isdigit() for item in items):
            raise ValueError(
                f"{kind}_concat must be comma-separated node indices. Received: {text!r}"
            )
        return tuple(int(item) for item in items)

    @classmethod
    def from_string(cls, text: str) -> DartsGenotype:
        if not isinstance(text, str):
            raise ValueError(f"A DARTS genotype string must be a str. Received: {text!r}")
        text = text.strip()
        fields: dict[str, str] = {}
        for part in text.split(";"):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(
                    f"Each part of a DARTS genotype string must be 'key=value' "
                    f"(normal, reduce, normal_concat, reduce_concat). Received part: {part!r}"
                )
            if key not in ("normal", "reduce", "normal_concat", "reduce_concat"):
                raise ValueError(
                    f"Unknown key {key!r} in DARTS genotype string; expected normal, reduce, "
                    "normal_concat, reduce_concat."
                )
            if key in fields:
                raise ValueError(f"Key {key!r} appears twice in DARTS genotype string {text!r}.")
            fields[key] = value.strip()
        for key in ("normal", "reduce"):
            if key not in fields:
                raise ValueError(f"DARTS genotype string lacks the {key!r} cell: {text!r}")
        kwargs: dict[str, Any] = {
            kind: cls._parse_cell(fields[kind], kind) for kind in ("normal", "reduce")
        }
        for kind in ("normal", "reduce"):
            if f"{kind}_concat" in fields:
                kwargs[f"{kind}_concat"] = cls._parse_concat(fields[f"{kind}_concat"], kind)
        return cls(**kwargs)

    @classmethod
    def looks_like(cls, text: str) -> bool:
        return isinstance(text, str) and text.strip().startswith(("normal=", "reduce="))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON form: format, space, the canonical string, and readable fields."""
        return {
            "format": self.format,
            "space": self.space,
            "genotype": self.to_string(),
            "normal": [[op, index] for op, index in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, index] for op, index in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_reference(cls, genotype: Any) -> DartsGenotype:
        """Converts a reference-code `Genotype` namedtuple (or any object with its fields)."""
        return cls(
            normal=genotype.normal,
            reduce=genotype.reduce,
            normal_concat=tuple(genotype.normal_concat),
            reduce_concat=tuple(genotype.reduce_concat),
        )


GENOTYPE_CLASSES.register("darts", DartsGenotype)
