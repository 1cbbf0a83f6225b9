"""`SupernetConfig`: everything that fixes a search supernet's structure, as a frozen dataclass.

References:
    - Liu et al., DARTS, arXiv 1806.09055.
    - Chu et al., DARTS-, arXiv 2009.01027.
    - Xu et al., PC-DARTS, arXiv 1907.05737.
    - Dong & Yang, GDAS, arXiv 1910.04465.
    - Wang et al., ROME, arXiv 2011.11233.
    - Dong & Yang, NAS-Bench-201, arXiv 2001.00326.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: Search spaces a supernet can be built for.
SPACES: tuple[str, ...] = ("darts", "nb201")
#: How the candidate ops of an edge are combined.
MIXINGS: tuple[str, ...] = ("softmax", "gumbel", "rome")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")


def _check_edge_ops(space: str, edge_ops: Any) -> tuple[tuple[str, ...], ...]:
    from tfnas.spaces import nb201 as nb201_space

    if space != "nb201":
        raise ValueError(f"edge_ops is supported in the nb201 space only. Received: space={space!r}")
    return nb201_space.canonical_edge_ops(edge_ops)


@dataclasses.dataclass(frozen=True)
class SupernetConfig:
    """The structure of a search supernet.

    Args:
        space: `"darts"` (8 ops, 14 edges, normal + reduction cell) or `"nb201"` (5 ops,
            6 edges, one cell shared by every stage).
        channels: Initial channels (DARTS `C`, 16 in the paper; NB201 `C`, 16).
        layers: DARTS: number of cells (8); NB201: cells per stage (`N`, 5).
        num_classes: Classifier outputs.
        input_shape: `(H, W, C)` of the images.
        mixing: `"softmax"` (DARTS weighted sum of all ops), `"gumbel"` (GDAS: one op per
            edge by hard Gumbel-softmax, only that op computed) or `"rome"` (ROME: per node
            2 incoming edges by Gumbel top-2 over topology logits, one op per kept edge by
            hard Gumbel-softmax, `none` excluded; DARTS space only).
        partial_channels: PC-DARTS `K` (1 = off): the first `C/K` channels of an edge go
            through the mixed op, the rest bypass it; `softmax` mixing only.
        edge_normalization: PC-DARTS edge normalization (softmax over each node's incoming
            edge logits); `softmax` mixing only.
        aux_skip: DARTS- auxiliary skip connection with coefficient
            `supernet.aux_skip_beta` outside the softmax; `softmax` mixing only.
        steps: Intermediate nodes of a DARTS cell (4); ignored for NB201.
        stem_multiplier: DARTS stem width `stem_multiplier * channels` (3).
        seed: Seed of the initializers and of the supernet's sampling `SeedGenerator`.
        edge_ops: NB201 only: per-edge allowed op subsets (a learned sub-space, e.g. from
            `tfnas.algorithms.autospace`), one tuple of op names per edge in
            `tfnas.spaces.nb201.EDGES` order; ops outside an edge's subset get weight 0 and
            are never sampled or exported. None (default): the full space on every edge.
        binarized: BNAS (arXiv 1911.10862): the cells' convolutions use 1-bit weights
            (`SearchCell`'s `binarized`); stem and classifier stay float; `softmax` mixing only.
        unsampled_term: GDAS as its reference code computes an edge (AutoDL-Projects
            `forward_gdas`): `h_k * O_k(x) + sum_{j != k} h_j`, the unsampled ops'
            straight-through weights added (each exactly 0 in the forward pass), so alpha's
            gradient also carries the edge output's summed gradient; `gumbel` mixing only.

    Raises:
        ValueError: naming the argument and the value for anything out of range or an
            unsupported combination.

    Example:
    >>> config = SupernetConfig(space="nb201", channels=8, layers=1, num_classes=10,
    ...                         input_shape=(16, 16, 3))
    >>> SupernetConfig.from_dict(config.to_dict()) == config
    True
    """

    space: str = "darts"
    channels: int = 16
    layers: int = 8
    num_classes: int = 10
    input_shape: tuple[int, int, int] = (32, 32, 3)
    mixing: str = "softmax"
    partial_channels: int = 1
    edge_normalization: bool = False
    aux_skip: bool = False
    steps: int = 4
    stem_multiplier: int = 3
    seed: int = 0
    edge_ops: tuple[tuple[str, ...], ...] | None = None
    binarized: bool = False
    unsampled_term: bool = False

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}. Received: space={self.space!r}")
        if self.mixing not in MIXINGS:
            raise ValueError(f"mixing must be one of {MIXINGS}. Received: mixing={self.mixing!r}")
        for name in ("channels", "layers", "num_classes", "partial_channels", "steps",
                     "stem_multiplier"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int. Received: seed={self.seed!r}")
        shape = tuple(self.input_shape) if isinstance(self.input_shape, (list, tuple)) else None
        if shape is None or len(shape) != 3 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise ValueError(
                f"input_shape must be three positive ints (H, W, C). "
                f"Received: input_shape={self.input_shape!r}"
            )
        object.__setattr__(self, "input_shape", shape)
        if self.edge_ops is not None:
            object.__setattr__(self, "edge_ops", _check_edge_ops(self.space, self.edge_ops))
        if self.channels % self.partial_channels:
            raise ValueError(
                f"channels must be divisible by partial_channels. Received: "
                f"channels={self.channels}, partial_channels={self.partial_channels}"
            )
        if self.mixing != "softmax":
            for name in ("edge_normalization", "aux_skip"):
                if getattr(self, name):
                    raise ValueError(
                        f"{name} is supported with mixing='softmax' only. "
                        f"Received: {name}=True, mixing={self.mixing!r}"
                    )
            if self.partial_channels != 1:
                raise ValueError(
                    "partial_channels is supported with mixing='softmax' only. Received: "
                    f"partial_channels={self.partial_channels}, mixing={self.mixing!r}"
                )
        if self.unsampled_term and self.mixing != "gumbel":
            raise ValueError(
                "unsampled_term is GDAS's reference term and needs mixing='gumbel'. Received: "
                f"unsampled_term=True, mixing={self.mixing!r}"
            )
        if self.mixing == "rome" and self.space != "darts":
            raise ValueError(
                "mixing='rome' samples 2 inputs per node, which needs the DARTS space. "
                f"Received: mixing='rome', space={self.space!r}"
            )
        if self.aux_skip and self.partial_channels != 1:
            raise ValueError(
                "aux_skip (DARTS-) and partial_channels (PC-DARTS) cannot be combined. "
                f"Received: aux_skip=True, partial_channels={self.partial_channels}"
            )
        if self.binarized and self.mixing != "softmax":
            raise ValueError(f"binarized is supported with mixing='softmax' only. Received: mixing={self.mixing!r}")
        for name in ("edge_normalization", "aux_skip", "binarized"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool. Received: {name}={getattr(self, name)!r}")
        if self.space == "darts":
            height, width = shape[:2]
            if height % 4 or width % 4:
                raise ValueError(
                    "The DARTS supernet halves the resolution twice (exactly, as "
                    f"FactorizedReduce needs): H and W must be multiples of 4. "
                    f"Received: input_shape={shape}"
                )
            if self.layers < 3:
                raise ValueError(
                    "The DARTS supernet places reduction cells at layers//3 and 2*layers//3: "
                    f"it needs layers >= 3. Received: layers={self.layers}"
                )
            if (self.channels // self.partial_channels) % 2:
                raise ValueError(
                    "FactorizedReduce needs an even number of op channels "
                    f"(channels / partial_channels). Received: channels={self.channels}, "
                    f"partial_channels={self.partial_channels}"
                )
        else:
            height, width = shape[:2]
            if height % 4 or width % 4:
                raise ValueError(
                    "The NB201 supernet halves the resolution twice: H and W must be "
                    f"multiples of 4. Received: input_shape={shape}"
                )

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-able dict of every field."""
        data = dataclasses.asdict(self)
        data["input_shape"] = list(self.input_shape)
        if self.edge_ops is not None:
            data["edge_ops"] = [list(ops) for ops in self.edge_ops]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SupernetConfig:
        """Rebuilds a config from `to_dict()`'s output.

        Raises:
            ValueError: on an unknown key or a bad value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown SupernetConfig keys {unknown}. Known keys: {sorted(known)}")
        data = dict(data)
        if "input_shape" in data and isinstance(data["input_shape"], list):
            data["input_shape"] = tuple(data["input_shape"])
        return cls(**data)
