"""The mobile block search space (MnasNet / ProxylessNAS / FBNet / EfficientNet family).

A `MobileSpace` has a fixed macro skeleton (stem width, per-stage width, stride and number of
layer slots, head width) and per-slot labelled choices: block type (`ir` MBConv, `ds`
depthwise-separable), kernel {3, 5, 7}, expansion {1, 3, 4, 6}, squeeze-excite {none, 0.25},
activation {relu, relu6, swish, hswish}, and `zero` (the slot is skipped) for depth.
Architectures in it are `BlockGenotype`s; `MobileSpace.validate(genotype)` says whether and
why one is not in the space.

How the published models fit: the genotype grammar (`tfnas.genotypes.block`) is open, any
odd kernel and any positive expansion, so every published model is a valid genotype
whatever the space. A space constrains only what a search may pick. The five reference
models (MobileNetV2, MnasNet-A1, ProxylessNAS-mobile, FBNet-C, EfficientNet-B0) all pick
their kernels, expansions, SE ratios and activations from the default choice sets above;
what differs between them is the macro skeleton (widths, strides, depths, stem and head)
and whether expansion-1 blocks keep their 1x1 expand conv (`ir ... e1`, FBNet) or drop it
(`ds`, the others). So `MobileSpace.skeleton_of(g)` (the skeleton of `g` with the default
choices) contains `g` for each of them, and `DEFAULT_SPACE` is ProxylessNAS-mobile's
skeleton (its released model is in it). A space with other choices (e.g. DNA's
expansions {3, 6}) is made by passing them to the constructor or to `skeleton_of`.

No TensorFlow here.

References:
    MnasNet (arXiv 1807.11626), ProxylessNAS (arXiv 1812.00332), FBNet (arXiv 1812.03443),
    EfficientNet (arXiv 1905.11946), MobileNetV2 (arXiv 1801.04381).

Example:
>>> import tfnas.genotypes.published_blocks as published
>>> DEFAULT_SPACE.validate(published.PROXYLESSNAS_MOBILE)
>>> MobileSpace.skeleton_of(published.FBNET_C).validate(published.FBNET_C)
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any
from collections.abc import Sequence

from tfnas.genotypes.block import ACTIVATIONS, BlockGenotype, BlockSpec

#: Default per-slot choices (systems.md, "Mobile block space").
KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANSIONS: tuple[float, ...] = (1, 3, 4, 6)
SE_RATIOS: tuple[float, ...] = (0.0, 0.25)
BLOCK_TYPES: tuple[str, ...] = ("ir", "ds")


@dataclasses.dataclass(frozen=True)
class StageSpec:
    """One stage of the macro skeleton.

    Args:
        width: Output width of every non-zero block of the stage.
        stride: Stride of the stage's first slot (1 or 2).
        depth: Number of layer slots (>= 1); slots beyond a genotype's blocks count as zero.

    Raises:
        ValueError: naming the bad field.
    """

    width: int
    stride: int
    depth: int

    def __post_init__(self) -> None:
        for name in ("width", "depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"StageSpec {name} must be an int >= 1. Received: {name}={value!r}")
        if self.stride not in (1, 2):
            raise ValueError(f"StageSpec stride must be 1 or 2. Received: stride={self.stride!r}")


@dataclasses.dataclass(frozen=True)
class MobileSpace:
    """A mobile block search space: macro skeleton + labelled per-slot choices.

    Args:
        stem: Stem width.
        stages: The stages of the skeleton.
        head: Head conv width (0 = none).
        kernels: Kernel choices (odd ints).
        expansions: Expansion choices for `ir` blocks (`ds` blocks are expansion 1 and
            are allowed when 1 is among them).
        se_ratios: SE ratio choices (0 = none).
        activations: Activation choices (a block's resolved activation must be one).
        block_types: Allowed non-zero block types, from `("ir", "ds")`.
        allow_zero: Whether a slot may be `zero` (skip for depth).

    Raises:
        ValueError: naming the bad field.

    Example:
    >>> space = MobileSpace(stem=16, stages=(StageSpec(8, 1, 1), StageSpec(16, 2, 2)), head=64)
    >>> g = space.sample(seed=0)
    >>> space.validate(g)
    """

    stem: int
    stages: tuple[StageSpec, ...]
    head: int = 1280
    kernels: tuple[int, ...] = KERNELS
    expansions: tuple[float, ...] = EXPANSIONS
    se_ratios: tuple[float, ...] = SE_RATIOS
    activations: tuple[str, ...] = ACTIVATIONS
    block_types: tuple[str, ...] = BLOCK_TYPES
    allow_zero: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        for name in ("kernels", "expansions", "se_ratios", "activations", "block_types"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
            if not getattr(self, name):
                raise ValueError(f"MobileSpace {name} must not be empty.")
        if isinstance(self.stem, bool) or not isinstance(self.stem, int) or self.stem < 1:
            raise ValueError(f"MobileSpace stem must be an int >= 1. Received: stem={self.stem!r}")
        if isinstance(self.head, bool) or not isinstance(self.head, int) or self.head < 0:
            raise ValueError(f"MobileSpace head must be an int >= 0. Received: head={self.head!r}")
        if not self.stages or not all(isinstance(s, StageSpec) for s in self.stages):
            raise ValueError(f"MobileSpace stages must be a non-empty tuple of StageSpec. Received: {self.stages!r}")
        for k in self.kernels:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
                raise ValueError(f"MobileSpace kernels must be odd ints >= 1. Received: kernels={self.kernels!r}")
        for e in self.expansions:
            if not isinstance(e, (int, float)) or isinstance(e, bool) or e <= 0:
                raise ValueError(f"MobileSpace expansions must be numbers > 0. Received: expansions={self.expansions!r}")
        for r in self.se_ratios:
            if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0 <= r <= 1:
                raise ValueError(f"MobileSpace se_ratios must be in [0, 1]. Received: se_ratios={self.se_ratios!r}")
        for a in self.activations:
            if a not in ACTIVATIONS:
                raise ValueError(
                    f"MobileSpace activations must be among {', '.join(ACTIVATIONS)}. Received: {a!r}"
                )
        for t in self.block_types:
            if t not in BLOCK_TYPES:
                raise ValueError(f"MobileSpace block_types must be among ir, ds. Received: {t!r}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def skeleton_of(cls, genotype: BlockGenotype, **choices) -> MobileSpace:
        """Returns the space with `genotype`'s macro skeleton and the given (default) choices.

        Each genotype stage becomes a `StageSpec` (width of its last non-zero block, stride
        of its first block, depth = its number of single blocks, zero blocks included).

        Raises:
            ValueError: if `genotype` is not a `BlockGenotype` or a choice is invalid.
        """
        if not isinstance(genotype, BlockGenotype):
            raise ValueError(f"genotype must be a BlockGenotype. Received: genotype={genotype!r}")
        stages = []
        layers = genotype.layers()
        for s in range(len(genotype.stages)):
            own = [layer for layer in layers if layer.stage == s]
            stages.append(StageSpec(width=own[-1].out_channels, stride=own[0].spec.stride or 1, depth=len(own)))
        return cls(stem=genotype.stem, stages=tuple(stages), head=genotype.head, **choices)

    # ------------------------------------------------------------------ queries
    def _in_width(self, stage: int) -> int:
        return self.stem if stage == 0 else self.stages[stage - 1].width

    def candidates(self, stage: int, slot: int) -> tuple[BlockSpec, ...]:
        """Returns the single-block choices of one slot (activation explicit; `zero` last).

        Raises:
            ValueError: if `stage` or `slot` is out of range.
        """
        if not 0 <= stage < len(self.stages):
            raise ValueError(f"stage must be in [0, {len(self.stages)}). Received: stage={stage!r}")
        spec = self.stages[stage]
        if not 0 <= slot < spec.depth:
            raise ValueError(f"slot must be in [0, {spec.depth}) for stage {stage}. Received: slot={slot!r}")
        stride = spec.stride if slot == 0 else 1
        result = []
        for block_type in self.block_types:
            expansions = self.expansions if block_type == "ir" else tuple(e for e in self.expansions if e == 1)
            for e in expansions:
                for k in self.kernels:
                    for r in self.se_ratios:
                        for a in self.activations:
                            result.append(
                                BlockSpec(block_type, 1, k, stride, e, spec.width, float(r), a)
                            )
        if self._zero_allowed(stage, slot):
            result.append(BlockSpec("zero", 1))
        return tuple(result)

    def _zero_allowed(self, stage: int, slot: int) -> bool:
        spec = self.stages[stage]
        if not self.allow_zero:
            return False
        if slot > 0:
            return True
        return spec.stride == 1 and self._in_width(stage) == spec.width

    def num_architectures(self) -> int:
        """Returns the number of architectures in the space (product of per-slot choices)."""
        total = 1
        for s, stage in enumerate(self.stages):
            for slot in range(stage.depth):
                total *= len(self.candidates(s, slot))
        return total

    def sample(self, seed: int | None = None, act: str = "relu") -> BlockGenotype:
        """Returns a uniformly sampled genotype of the space (`act` as the network default).

        Raises:
            ValueError: if `act` is not an activation name.
        """
        rng = random.Random(seed)
        stages = []
        for s, stage in enumerate(self.stages):
            stages.append(tuple(rng.choice(self.candidates(s, slot)) for slot in range(stage.depth)))
        return BlockGenotype(stem=self.stem, stages=tuple(stages), head=self.head, act=act)

    # ------------------------------------------------------------------ validation
    def validate(self, genotype: BlockGenotype) -> None:
        """Checks that `genotype` is in the space.

        Raises:
            ValueError: saying which stage/slot/choice is outside the space.
        """
        if not isinstance(genotype, BlockGenotype):
            raise ValueError(f"genotype must be a BlockGenotype. Received: genotype={genotype!r}")
        if genotype.stem != self.stem:
            raise ValueError(f"Genotype stem={genotype.stem}, the space has stem={self.stem}.")
        if genotype.head != self.head:
            raise ValueError(f"Genotype head={genotype.head}, the space has head={self.head}.")
        if len(genotype.stages) != len(self.stages):
            raise ValueError(f"Genotype has {len(genotype.stages)} stages, the space has {len(self.stages)}.")
        layers = genotype.layers()
        for s, spec in enumerate(self.stages):
            own = [layer for layer in layers if layer.stage == s]
            if len(own) > spec.depth:
                raise ValueError(f"Stage {s} has {len(own)} blocks, the space allows at most {spec.depth}.")
            if len(own) < spec.depth and not self.allow_zero:
                raise ValueError(
                    f"Stage {s} has {len(own)} blocks; the space has {spec.depth} slots and no zero choice."
                )
            for layer in own:
                where = f"Stage {s} block {layer.index} ({layer.spec.to_string()})"
                block = layer.spec
                if block.is_zero:
                    if not self._zero_allowed(s, layer.index):
                        raise ValueError(
                            f"{where}: zero is not a choice here (zero is disallowed, or the slot changes "
                            "width or stride)."
                        )
                    continue
                stride = spec.stride if layer.index == 0 else 1
                if block.stride != stride:
                    raise ValueError(f"{where}: stride {block.stride}, the space has {stride} here.")
                if block.out_channels != spec.width:
                    raise ValueError(f"{where}: width {block.out_channels}, the stage width is {spec.width}.")
                if block.block_type not in self.block_types:
                    raise ValueError(
                        f"{where}: block type {block.block_type!r} is not among {', '.join(self.block_types)}."
                    )
                if block.kernel not in self.kernels:
                    raise ValueError(f"{where}: kernel {block.kernel} is not among {self.kernels}.")
                if block.expansion not in self.expansions:
                    raise ValueError(f"{where}: expansion {block.expansion} is not among {self.expansions}.")
                if block.se_ratio not in self.se_ratios:
                    raise ValueError(f"{where}: SE ratio {block.se_ratio} is not among {self.se_ratios}.")
                act = genotype.activation_of(block)
                if act not in self.activations:
                    raise ValueError(f"{where}: activation {act!r} is not among {self.activations}.")
                can_skip = block.stride == 1 and layer.in_channels == block.out_channels
                if block.skip is False and can_skip:
                    raise ValueError(f"{where}: 'noskip' (dropping a residual) is not a choice of the space.")
        # a stage whose width only comes from zero blocks would not reach its width
        for s, spec in enumerate(self.stages):
            own = [layer for layer in layers if layer.stage == s]
            if own[-1].out_channels != spec.width:
                raise ValueError(f"Stage {s} ends at width {own[-1].out_channels}, the stage width is {spec.width}.")


#: ProxylessNAS-mobile's skeleton with the default choices (its released model is in it).
DEFAULT_SPACE = MobileSpace(
    stem=32,
    stages=(
        StageSpec(16, 1, 1),
        StageSpec(32, 2, 4),
        StageSpec(40, 2, 4),
        StageSpec(80, 2, 4),
        StageSpec(96, 1, 4),
        StageSpec(192, 2, 4),
        StageSpec(320, 1, 1),
    ),
    head=1280,
)


def validate(genotype: BlockGenotype, space: MobileSpace | None = None) -> None:
    """Checks a mobile genotype: always its own validity, and membership of `space` if given.

    Without `space`, any genotype the grammar accepts (published models included) passes:
    the checks are those of `BlockGenotype` (re-run here on its canonical string).

    Raises:
        ValueError: saying what is wrong.

    Example:
    >>> import tfnas.genotypes.published_blocks as published
    >>> validate(published.MNASNET_A1)
    """
    if not isinstance(genotype, BlockGenotype):
        raise ValueError(f"genotype must be a BlockGenotype. Received: genotype={genotype!r}")
    BlockGenotype.from_string(genotype.to_string())
    if space is not None:
        space.validate(genotype)


def stage_specs(widths: Sequence[int], strides: Sequence[int], depths: Sequence[int]) -> tuple[StageSpec, ...]:
    """Zips per-stage widths, strides and depths into `StageSpec`s.

    Raises:
        ValueError: if the sequences differ in length or a value is invalid.
    """
    if not len(widths) == len(strides) == len(depths):
        raise ValueError(
            f"widths, strides and depths must have the same length. Received: {len(widths)}, "
            f"{len(strides)}, {len(depths)}"
        )
    return tuple(StageSpec(w, s, d) for w, s, d in zip(widths, strides, depths))


@dataclasses.dataclass(frozen=True)
class CandidateSpace:
    """A mobile space given by explicit candidates per layer slot (e.g. learned by AutoSpace).

    Same macro skeleton as `MobileSpace` (stem, stages, head), but each slot lists its own
    candidate single blocks (activations explicit, `zero` allowed where the slot keeps
    width and stride) instead of a product of choice sets. `MobileSpace.candidates` and
    `CandidateSpace.candidates` answer the same question, so the mobile supernet, the cost
    tables and the searches take either. JSON: `to_json` / `from_json`.

    References:
        Zhou et al., AutoSpace, arXiv 2103.11833 (learned per-layer candidate sets).

    Args:
        stem: Stem width.
        stages: The stages (`StageSpec`).
        head: Head conv width (0 = none).
        slots: Per stage, per slot, the candidate `BlockSpec`s (single blocks).
        act: Default activation of the genotypes (stem and head).

    Raises:
        ValueError: naming the slot whose candidate does not fit the skeleton.

    Example:
    >>> space = CandidateSpace.from_space(MobileSpace(stem=8, stages=(StageSpec(8, 1, 1),), head=16,
    ...                                              kernels=(3,), expansions=(3,), se_ratios=(0.0,),
    ...                                              activations=("relu",), block_types=("ir",)))
    >>> space.num_architectures()
    2
    """

    stem: int
    stages: tuple[StageSpec, ...]
    head: int
    slots: tuple[tuple[tuple[BlockSpec, ...], ...], ...]
    act: str = "relu"

    format = "tfnas.learned_space.mobile/1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "slots", tuple(tuple(tuple(c) for c in stage) for stage in self.slots))
        MobileSpace(stem=self.stem, stages=self.stages, head=self.head)  # checks the skeleton
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {', '.join(ACTIVATIONS)}. Received: act={self.act!r}")
        if len(self.slots) != len(self.stages):
            raise ValueError(f"slots needs one entry per stage ({len(self.stages)}). Received: {len(self.slots)}")
        skeleton = MobileSpace(stem=self.stem, stages=self.stages, head=self.head)
        for s, (stage, slots) in enumerate(zip(self.stages, self.slots)):
            if len(slots) != stage.depth:
                raise ValueError(f"Stage {s} has depth {stage.depth}, slots lists {len(slots)}.")
            for i, cands in enumerate(slots):
                if not cands or len(set(cands)) != len(cands):
                    raise ValueError(f"Stage {s} slot {i} needs distinct candidates. Received: {cands!r}")
                stride = stage.stride if i == 0 else 1
                for block in cands:
                    if not isinstance(block, BlockSpec) or block.repeats != 1:
                        raise ValueError(f"Stage {s} slot {i}: candidates must be single BlockSpecs. Received: {block!r}")
                    if block.is_zero:
                        if not skeleton._zero_allowed(s, i):
                            raise ValueError(f"Stage {s} slot {i}: zero changes width or stride here.")
                    elif block.stride != stride or block.out_channels != stage.width:
                        raise ValueError(
                            f"Stage {s} slot {i}: {block.to_string()} needs stride {stride} and width {stage.width}."
                        )

    @classmethod
    def from_space(cls, space: MobileSpace, act: str = "relu") -> CandidateSpace:
        """Every choice of a `MobileSpace`, slot by slot."""
        slots = tuple(tuple(space.candidates(s, i) for i in range(st.depth)) for s, st in enumerate(space.stages))
        return cls(space.stem, space.stages, space.head, slots, act)

    @classmethod
    def from_slots(cls, space: Any, per_slot: Sequence[Sequence[BlockSpec]], act: str = "relu") -> CandidateSpace:
        """The skeleton of `space` with the candidates `per_slot` (a flat list over all slots)."""
        per_slot = list(per_slot)
        slots, k = [], 0
        for stage in space.stages:
            slots.append(tuple(tuple(per_slot[k + i]) for i in range(stage.depth)))
            k += stage.depth
        if k != len(per_slot):
            raise ValueError(f"per_slot needs {k} entries (one per slot). Received: {len(per_slot)}")
        return cls(space.stem, space.stages, space.head, tuple(slots), act)

    def candidates(self, stage: int, slot: int) -> tuple[BlockSpec, ...]:
        """The candidates of one slot.

        Raises:
            ValueError: if `stage` or `slot` is out of range.
        """
        if not 0 <= stage < len(self.stages) or not 0 <= slot < self.stages[stage].depth:
            raise ValueError(f"No slot {slot} in stage {stage}.")
        return self.slots[stage][slot]

    def flat_slots(self) -> list[tuple[BlockSpec, ...]]:
        """All slots' candidates, stage by stage (the decision order of the supernet)."""
        return [cands for stage in self.slots for cands in stage]

    def num_architectures(self) -> int:
        total = 1
        for cands in self.flat_slots():
            total *= len(cands)
        return total

    def genotype(self, choices: Sequence[int], **fields: Any) -> BlockGenotype:
        """The genotype picking candidate `choices[d]` at slot d (flat order).

        Args:
            choices: One index per slot.
            **fields: Other `BlockGenotype` fields (bn settings, dropout, ...).

        Raises:
            ValueError: for a wrong number of choices or an index out of range.
        """
        flat = self.flat_slots()
        if len(choices) != len(flat):
            raise ValueError(f"choices needs one index per slot ({len(flat)}). Received: {len(choices)}")
        stages, d = [], 0
        for stage in self.slots:
            blocks = []
            for cands in stage:
                j = int(choices[d])
                if not 0 <= j < len(cands):
                    raise ValueError(f"Choice {j} out of range for slot {d} ({len(cands)} candidates).")
                blocks.append(cands[j])
                d += 1
            stages.append(tuple(blocks))
        return BlockGenotype(stem=self.stem, stages=tuple(stages), head=self.head, act=fields.pop("act", self.act),
                             **fields)

    def validate(self, genotype: BlockGenotype) -> None:
        """Raises ValueError naming the slot whose block is not among its candidates."""
        if not isinstance(genotype, BlockGenotype):
            raise ValueError(f"genotype must be a BlockGenotype. Received: genotype={genotype!r}")
        MobileSpace(stem=self.stem, stages=self.stages, head=self.head).validate(
            dataclasses.replace(genotype, act="relu") if genotype.act not in ACTIVATIONS else genotype)
        for layer in genotype.layers():
            block = layer.spec
            if not block.is_zero:
                block = dataclasses.replace(block, activation=genotype.activation_of(block), skip=None)
            if block not in self.slots[layer.stage][layer.index]:
                raise ValueError(
                    f"Stage {layer.stage} slot {layer.index}: {block.to_string()} is not among the slot's candidates."
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "space": "mobile", "stem": self.stem, "head": self.head, "act": self.act,
            "stages": [[st.width, st.stride, st.depth] for st in self.stages],
            "slots": [[[b.to_string() for b in cands] for cands in stage] for stage in self.slots],
            "num_architectures": self.num_architectures(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CandidateSpace:
        """Raises ValueError for another format."""
        if data.get("format") != cls.format:
            raise ValueError(f"Not a learned mobile space (format {data.get('format')!r}, expected {cls.format!r}).")
        return cls(
            stem=int(data["stem"]), head=int(data["head"]), act=data.get("act", "relu"),
            stages=tuple(StageSpec(*st) for st in data["stages"]),
            slots=tuple(tuple(tuple(BlockSpec.from_string(b) for b in cands) for cands in stage)
                        for stage in data["slots"]),
        )

    @classmethod
    def from_json(cls, text: str) -> CandidateSpace:
        return cls.from_dict(json.loads(text))
