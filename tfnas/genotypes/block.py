"""Mobile block genotypes: stages of MBConv-family blocks in timm's block-string grammar.

A `BlockGenotype` is a whole mobile network as data: the stem width, one tuple of
`BlockSpec`s per stage, the head width and the global settings that the reference
implementations differ in (default activation, how squeeze-excite widths are counted, BN
epsilon/momentum, classifier dropout). No TensorFlow here; `tfnas.children.mobile_net`
turns a genotype into a Keras model.

Block strings follow timm's grammar (`ir_r2_k5_s2_e6_c40_se0.25`): a block type, then
`_`-separated options in any order.

| token      | meaning                                                       |
| ---------- | ------------------------------------------------------------- |
| `ir`       | inverted residual / MBConv: 1x1 expand (always present, even at `e1`), kxk depthwise, optional SE, 1x1 linear project |
| `ds`       | depthwise-separable: kxk depthwise, optional SE, 1x1 linear project (no expand conv; expansion is 1) |
| `cn`       | plain kxk conv + BN + act                                     |
| `zero`     | the layer is skipped (identity): "skip for depth" in a search space |
| `r<int>`   | repeats (the first repeat takes the stride, the others stride 1) |
| `k<int>`   | depthwise (or conv) kernel size, odd                          |
| `s<int>`   | stride of the first repeat, 1 or 2                            |
| `e<num>`   | expansion ratio (`ir` only; `ds` accepts `e1`)                |
| `c<int>`   | output channels                                               |
| `se<num>`  | squeeze-excite ratio in (0, 1]; absent = no SE                |
| `nre`/`nr6`/`nsw`/`nhs` | activation relu / relu6 / swish / hard-swish, overriding the network default |
| `noskip`   | no residual even where shapes allow it (`ir`, `ds`)           |
| `skip`     | force a residual on a `cn` block (needs stride 1 and in == out) |

A block's residual is added when its stride is 1 and its input and output widths match
(unless `noskip`). `zero` blocks accept only `r`: they are identities, so they keep the
width and stride of their input.

Canonical string (one line, `;`-separated `key=value`, fixed key order; stages separated by
`|`, block strings inside a stage by `,`; block options in the order r k s e c se n skip):

    stem=32;blocks=ds_r1_k3_s1_c16|ir_r2_k3_s2_e6_c24|...;head=1280;act=relu6;
    se_base=in;se_act=block;se_gate=sigmoid;bn_eps=0.001;bn_momentum=0.999;dropout=0.0

(on one line). `from_string` accepts the keys in any order and only `stem` and `blocks` are
required; the other keys take the defaults of `BlockGenotype`.

Global settings:
    act: default activation, one of relu, relu6, swish, hswish.
    se_base: `in` (SE width = ratio x block input channels: TF MnasNet/EfficientNet,
        `keras.applications`, timm) or `mid` (ratio x expanded channels: MobileNetV3 style).
        SE width = max(1, int(base * ratio)).
    se_act: activation inside SE, `block` (the block's activation) or an activation name.
    se_gate: `sigmoid` or `hsigmoid` (hard sigmoid, relu6(x + 3) / 6).
    bn_eps, bn_momentum: BatchNormalization epsilon and momentum in Keras's convention
        (moving = momentum * moving + (1 - momentum) * batch; PyTorch's 0.1 is Keras's 0.9).
    dropout: classifier dropout rate in [0, 1).
    head: width of the final 1x1 conv, 0 for none.

Expanded widths are `round(in_channels * expansion)`.

References:
    MobileNetV2 (arXiv 1801.04381), MnasNet (arXiv 1807.11626), ProxylessNAS (arXiv
    1812.00332), FBNet (arXiv 1812.03443), EfficientNet (arXiv 1905.11946); block strings
    after timm's `_efficientnet_builder.py`.

Example:
>>> g = BlockGenotype.from_string("stem=16;blocks=ds_r1_k3_s1_c8|ir_r2_k5_s2_e6_c16_se0.25;head=64")
>>> g.stages[1][0].kernel
5
>>> BlockGenotype.from_string(g.to_string()) == g
True
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from tfnas.genotypes.base import GENOTYPE_CLASSES, Genotype

#: Block types of the grammar.
BLOCK_TYPES = ("ir", "ds", "cn", "zero")
#: Activation names and their block-string tokens (timm's `n` option).
ACTIVATION_TOKENS = {"relu": "re", "relu6": "r6", "swish": "sw", "hswish": "hs"}
ACTIVATIONS = tuple(ACTIVATION_TOKENS)
_TOKEN_ACTIVATIONS = {v: k for k, v in ACTIVATION_TOKENS.items()}
SE_BASES = ("in", "mid")
SE_GATES = ("sigmoid", "hsigmoid")
STRIDES = (1, 2)

_INT = re.compile(r"[0-9]+")
_NUM = re.compile(r"[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_KEYS = (
    "stem",
    "blocks",
    "head",
    "act",
    "se_base",
    "se_act",
    "se_gate",
    "bn_eps",
    "bn_momentum",
    "dropout",
)


def _fmt_num(value: float) -> str:
    """Formats a number for a block string: integers without a decimal point."""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One parsed block string (a run of `repeats` identical blocks).

    Args:
        block_type: `"ir"`, `"ds"`, `"cn"` or `"zero"`.
        repeats: Number of blocks, >= 1.
        kernel: Depthwise (or conv) kernel size, odd and >= 1 (ignored for `zero`).
        stride: Stride of the first repeat, 1 or 2 (`zero`: always 1).
        expansion: Expansion ratio (> 0 for `ir`; 1 for the others).
        out_channels: Output width, >= 1 (`zero`: 0, the width is the input's).
        se_ratio: Squeeze-excite ratio, 0 (none) or in (0, 1]; `ir` and `ds` only.
        activation: Activation name overriding the network default, or None.
        skip: None (residual where shapes allow, none for `cn`), False (`noskip`,
            `ir`/`ds`) or True (`skip`, `cn` only).

    Raises:
        ValueError: naming the field and value when a field is invalid.

    Example:
    >>> BlockSpec.from_string("ir_r2_k5_s2_e6_c40_se0.25").to_string()
    'ir_r2_k5_s2_e6_c40_se0.25'
    """

    block_type: str
    repeats: int = 1
    kernel: int = 3
    stride: int = 1
    expansion: float = 1
    out_channels: int = 0
    se_ratio: float = 0.0
    activation: str | None = None
    skip: bool | None = None

    def __post_init__(self) -> None:
        where = f"block {self.block_type!r}"
        if self.block_type not in BLOCK_TYPES:
            raise ValueError(
                f"Unknown block type {self.block_type!r}; expected one of {', '.join(BLOCK_TYPES)}."
            )
        if not _is_int(self.repeats) or self.repeats < 1:
            raise ValueError(f"{where}: repeats must be an int >= 1. Received: repeats={self.repeats!r}")
        if self.block_type == "zero":
            defaults = BlockSpec.__dataclass_fields__
            for name in ("kernel", "stride", "expansion", "out_channels", "se_ratio", "activation", "skip"):
                if getattr(self, name) != defaults[name].default:
                    raise ValueError(
                        f"{where}: a zero block takes only repeats. Received: {name}={getattr(self, name)!r}"
                    )
            return
        if not _is_int(self.kernel) or self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"{where}: kernel must be an odd int >= 1. Received: kernel={self.kernel!r}")
        if self.stride not in STRIDES or not _is_int(self.stride):
            raise ValueError(f"{where}: stride must be 1 or 2. Received: stride={self.stride!r}")
        if not _is_num(self.expansion) or self.expansion <= 0:
            raise ValueError(f"{where}: expansion must be a number > 0. Received: expansion={self.expansion!r}")
        if self.block_type != "ir" and self.expansion != 1:
            raise ValueError(
                f"{where}: only 'ir' blocks take an expansion ratio other than 1. "
                f"Received: expansion={self.expansion!r}"
            )
        if not _is_int(self.out_channels) or self.out_channels < 1:
            raise ValueError(
                f"{where}: out_channels must be an int >= 1. Received: out_channels={self.out_channels!r}"
            )
        if not _is_num(self.se_ratio) or not 0.0 <= self.se_ratio <= 1.0:
            raise ValueError(f"{where}: se_ratio must be in [0, 1]. Received: se_ratio={self.se_ratio!r}")
        if self.block_type == "cn" and self.se_ratio:
            raise ValueError(f"{where}: 'cn' blocks take no squeeze-excite. Received: se_ratio={self.se_ratio!r}")
        if self.activation is not None and self.activation not in ACTIVATIONS:
            raise ValueError(
                f"{where}: activation must be None or one of {', '.join(ACTIVATIONS)}. "
                f"Received: activation={self.activation!r}"
            )
        if self.skip is not None and not isinstance(self.skip, bool):
            raise ValueError(f"{where}: skip must be None, True or False. Received: skip={self.skip!r}")
        if self.skip is True and self.block_type != "cn":
            raise ValueError(f"{where}: 'skip' (forced residual) applies to 'cn' blocks only; use nothing or 'noskip'.")
        if self.skip is False and self.block_type == "cn":
            raise ValueError(f"{where}: 'cn' blocks have no residual by default; 'noskip' does not apply.")

    @property
    def is_zero(self) -> bool:
        """True for a `zero` (skipped) block."""
        return self.block_type == "zero"

    def to_string(self) -> str:
        """Returns the canonical block string (options in the order r k s e c se n skip)."""
        parts = [self.block_type, f"r{self.repeats}"]
        if self.is_zero:
            return "_".join(parts)
        parts += [f"k{self.kernel}", f"s{self.stride}"]
        if self.block_type == "ir":
            parts.append(f"e{_fmt_num(self.expansion)}")
        parts.append(f"c{self.out_channels}")
        if self.se_ratio:
            parts.append(f"se{_fmt_num(self.se_ratio)}")
        if self.activation is not None:
            parts.append("n" + ACTIVATION_TOKENS[self.activation])
        if self.skip is True:
            parts.append("skip")
        elif self.skip is False:
            parts.append("noskip")
        return "_".join(parts)

    @classmethod
    def from_string(cls, text: str) -> BlockSpec:
        """Parses one block string such as `ir_r2_k5_s2_e6_c40_se0.25_nsw`.

        Raises:
            ValueError: naming the bad token and the block string.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"A block string must be a non-empty string. Received: {text!r}")
        text = text.strip()
        tokens = text.split("_")
        block_type = tokens[0]
        if block_type not in BLOCK_TYPES:
            raise ValueError(
                f"Unknown block type {block_type!r} in block string {text!r}; "
                f"expected one of {', '.join(BLOCK_TYPES)}."
            )
        fields: dict[str, Any] = {}

        def _set(name: str, value: Any, token: str) -> None:
            if name in fields:
                raise ValueError(f"Duplicate option {token!r} in block string {text!r}.")
            fields[name] = value

        for token in tokens[1:]:
            if token in ("skip", "noskip"):
                _set("skip", token == "skip", token)
            elif token.startswith("se"):
                value = token[2:]
                if not _NUM.fullmatch(value):
                    raise ValueError(f"Bad squeeze-excite token {token!r} in block string {text!r}; expected e.g. 'se0.25'.")
                _set("se_ratio", float(value), token)
            elif token.startswith("n"):
                act = _TOKEN_ACTIVATIONS.get(token[1:])
                if act is None:
                    raise ValueError(
                        f"Unknown activation token {token!r} in block string {text!r}; expected one of "
                        + ", ".join("n" + t for t in ACTIVATION_TOKENS.values())
                        + "."
                    )
                _set("activation", act, token)
            elif token[:1] in ("r", "k", "s", "c") and _INT.fullmatch(token[1:]):
                name = {"r": "repeats", "k": "kernel", "s": "stride", "c": "out_channels"}[token[0]]
                _set(name, int(token[1:]), token)
            elif token[:1] == "e" and _NUM.fullmatch(token[1:]):
                value = float(token[1:])
                _set("expansion", int(value) if value.is_integer() else value, token)
            else:
                raise ValueError(
                    f"Unknown or malformed token {token!r} in block string {text!r}; expected "
                    "r<int>, k<int>, s<int>, e<num>, c<int>, se<num>, n{re,r6,sw,hs}, skip or noskip."
                )
        if "repeats" not in fields:
            raise ValueError(f"Block string {text!r} lacks the repeats option 'r<int>'.")
        if block_type == "zero" and len(tokens) > 2:
            extra = [t for t in tokens[1:] if not (t[:1] == "r" and _INT.fullmatch(t[1:]))]
            raise ValueError(
                f"A zero block takes only the repeats option 'r<int>'. Received token {extra[0]!r} "
                f"in block string {text!r}."
            )
        if block_type != "zero":
            for key, token in (("kernel", "k"), ("stride", "s"), ("out_channels", "c")):
                if key not in fields:
                    raise ValueError(f"Block string {text!r} lacks the option '{token}<int>'.")
            if block_type == "ir" and "expansion" not in fields:
                raise ValueError(f"Block string {text!r} lacks the expansion option 'e<num>' ('ir' blocks need it).")
        try:
            return cls(block_type=block_type, **fields)
        except ValueError as err:
            raise ValueError(f"Invalid block string {text!r}: {err}") from None

    def unrolled(self) -> tuple[BlockSpec, ...]:
        """Returns the `repeats` single blocks; repeats after the first have stride 1."""
        first = dataclasses.replace(self, repeats=1)
        if self.repeats == 1:
            return (first,)
        rest = first if self.is_zero else dataclasses.replace(first, stride=1)
        return (first,) + (rest,) * (self.repeats - 1)


@dataclasses.dataclass(frozen=True)
class MobileLayer:
    """One resolved block of a network: where it is and what flows in and out.

    Args:
        stage: Stage index (0-based).
        index: Index of the block inside its stage, counting zero blocks (0-based).
        in_channels: Input width.
        out_channels: Output width (equal to `in_channels` for a zero block).
        spec: The single block (`repeats == 1`, stride already resolved).
        residual: Whether the block adds its input to its output.
    """

    stage: int
    index: int
    in_channels: int
    out_channels: int
    spec: BlockSpec
    residual: bool

    @property
    def mid_channels(self) -> int:
        """Width inside the block (expanded width for `ir`, input width for `ds`)."""
        if self.spec.block_type == "ir":
            return int(round(self.in_channels * self.spec.expansion))
        return self.in_channels


@dataclasses.dataclass(frozen=True)
class BlockGenotype(Genotype):
    """A mobile network (MBConv-family stages) as data.

    See the module docstring for the block grammar and the canonical string.

    Args:
        stem: Width of the 3x3 stride-2 stem conv.
        stages: One tuple of `BlockSpec`s per stage.
        head: Width of the final 1x1 conv, 0 for none.
        act: Default activation: relu, relu6, swish or hswish.
        se_base: SE width counted from the block input (`"in"`) or the expanded width (`"mid"`).
        se_act: SE activation: `"block"` or an activation name.
        se_gate: SE gate: `"sigmoid"` or `"hsigmoid"`.
        bn_eps: BatchNormalization epsilon, > 0.
        bn_momentum: BatchNormalization momentum (Keras convention), in (0, 1).
        dropout: Classifier dropout rate in [0, 1).

    Raises:
        ValueError: naming the field and value when a field is invalid.

    Example:
    >>> from tfnas.genotypes.codec import PUBLISHED
    >>> import tfnas.genotypes.published_blocks
    >>> PUBLISHED.get("mobilenet_v2").head
    1280
    """

    space = "mobile"
    format = "tfnas.mobile_blocks/1"

    stem: int
    stages: tuple[tuple[BlockSpec, ...], ...]
    head: int = 1280
    act: str = "relu"
    se_base: str = "in"
    se_act: str = "block"
    se_gate: str = "sigmoid"
    bn_eps: float = 1e-3
    bn_momentum: float = 0.99
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if not _is_int(self.stem) or self.stem < 1:
            raise ValueError(f"stem must be an int >= 1. Received: stem={self.stem!r}")
        if not _is_int(self.head) or self.head < 0:
            raise ValueError(f"head must be an int >= 0 (0 = no head conv). Received: head={self.head!r}")
        stages = self.stages
        if isinstance(stages, list):
            stages = tuple(tuple(s) if isinstance(s, list) else s for s in stages)
            object.__setattr__(self, "stages", stages)
        if not isinstance(stages, tuple) or not stages:
            raise ValueError(f"stages must be a non-empty tuple of tuples of BlockSpec. Received: stages={stages!r}")
        for i, stage in enumerate(stages):
            if not isinstance(stage, tuple) or not stage:
                raise ValueError(f"stage {i} must be a non-empty tuple of BlockSpec. Received: {stage!r}")
            for block in stage:
                if not isinstance(block, BlockSpec):
                    raise ValueError(f"stage {i} holds {block!r}, not a BlockSpec.")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"act must be one of {', '.join(ACTIVATIONS)}. Received: act={self.act!r}")
        if self.se_base not in SE_BASES:
            raise ValueError(f"se_base must be one of {', '.join(SE_BASES)}. Received: se_base={self.se_base!r}")
        if self.se_act != "block" and self.se_act not in ACTIVATIONS:
            raise ValueError(
                f"se_act must be 'block' or one of {', '.join(ACTIVATIONS)}. Received: se_act={self.se_act!r}"
            )
        if self.se_gate not in SE_GATES:
            raise ValueError(f"se_gate must be one of {', '.join(SE_GATES)}. Received: se_gate={self.se_gate!r}")
        if not _is_num(self.bn_eps) or self.bn_eps <= 0:
            raise ValueError(f"bn_eps must be a number > 0. Received: bn_eps={self.bn_eps!r}")
        if not _is_num(self.bn_momentum) or not 0.0 < self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1). Received: bn_momentum={self.bn_momentum!r}")
        if not _is_num(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={self.dropout!r}")
        if all(b.is_zero for stage in stages for b in stage):
            raise ValueError("A mobile genotype needs at least one block that is not 'zero'.")
        self.layers()  # checks the forced residuals against the channel flow

    # ----------------------------------------------------------------------------- structure
    def layers(self) -> tuple[MobileLayer, ...]:
        """Returns every single block with its resolved input/output widths and residual.

        Raises:
            ValueError: if a `cn ... skip` block cannot take a residual (stride 2 or in != out).
        """
        result = []
        channels = self.stem
        for s, stage in enumerate(self.stages):
            index = 0
            for spec in stage:
                for block in spec.unrolled():
                    if block.is_zero:
                        result.append(MobileLayer(s, index, channels, channels, block, False))
                    else:
                        fits = block.stride == 1 and channels == block.out_channels
                        if block.block_type == "cn":
                            if block.skip and not fits:
                                raise ValueError(
                                    f"Stage {s} block {index} ({spec.to_string()}) forces a residual but has "
                                    f"stride {block.stride} and {channels} -> {block.out_channels} channels."
                                )
                            residual = bool(block.skip)
                        else:
                            residual = fits and block.skip is not False
                        result.append(
                            MobileLayer(s, index, channels, block.out_channels, block, residual)
                        )
                        channels = block.out_channels
                    index += 1
        return tuple(result)

    @property
    def out_channels(self) -> int:
        """Width of the last stage's output (before the head conv)."""
        return self.layers()[-1].out_channels

    @property
    def num_features(self) -> int:
        """Width fed to the classifier: the head width, or the last stage's width if no head."""
        return self.head or self.out_channels

    def activation_of(self, spec: BlockSpec) -> str:
        """Returns the activation a block uses (its own or the network default)."""
        return spec.activation or self.act

    @property
    def reduction(self) -> int:
        """How many times the network downsamples its input: the stem's 2 times every block stride."""
        total = 2
        for stage in self.stages:
            for block in stage:
                total *= 1 if block.is_zero else block.stride
        return total

    def with_reduction(self, total: int) -> BlockGenotype:
        """The network with its earliest stride-2 blocks at stride 1, so that it downsamples by
        `total` in all: the usual adaptation of an ImageNet network to small images (e.g.
        MobileNetV2 on 32x32 CIFAR-10 keeps more than a 1x1 final map).

        Raises:
            ValueError: if `total` is not this network's reduction divided by a power of 2
                (at least the stem's 2).

        Example:
        >>> from tfnas.genotypes.codec import load
        >>> import tfnas.genotypes.published_blocks
        >>> v2 = load("mobilenet_v2")
        >>> v2.reduction, v2.with_reduction(8).reduction
        (32, 8)
        """
        ratio = self.reduction // total if _is_int(total) and total >= 2 else 0
        if ratio < 1 or ratio * total != self.reduction or ratio & (ratio - 1):
            raise ValueError(f"total must be {self.reduction} divided by a power of 2, at least 2. "
                             f"Received: total={total!r}")
        stages = []
        for stage in self.stages:
            blocks = []
            for block in stage:
                if ratio > 1 and not block.is_zero and block.stride == 2:
                    block, ratio = dataclasses.replace(block, stride=1), ratio // 2
                blocks.append(block)
            stages.append(tuple(blocks))
        return dataclasses.replace(self, stages=tuple(stages))

    def scaled(self, multiplier: float, divisor: int = 8) -> BlockGenotype:
        """The network with every width times `multiplier` (MobileNetV1/V2's width multiplier).

        The stem and every block's output width are rounded to a multiple of `divisor`
        (never below `divisor` nor more than 10% under the exact product, as MobileNetV2's
        `_make_divisible`); the head is scaled only above 1.0, as MobileNetV2 keeps its last
        conv at multipliers below 1 (arXiv 1801.04381).

        Raises:
            ValueError: for a multiplier <= 0.
        """
        if not _is_num(multiplier) or multiplier <= 0:
            raise ValueError(f"multiplier must be a number > 0. Received: multiplier={multiplier!r}")

        def width(channels: int) -> int:
            value = max(divisor, int(channels * multiplier + divisor / 2) // divisor * divisor)
            return value + divisor if value < 0.9 * channels * multiplier else value

        stages = tuple(tuple(b if b.is_zero else dataclasses.replace(b, out_channels=width(b.out_channels))
                             for b in stage) for stage in self.stages)
        head = width(self.head) if self.head and multiplier > 1.0 else self.head
        return dataclasses.replace(self, stem=width(self.stem), stages=stages, head=head)

    # ----------------------------------------------------------------------------- codecs
    def stage_strings(self) -> tuple[tuple[str, ...], ...]:
        """Returns the block strings per stage (timm's `arch_def` shape)."""
        return tuple(tuple(b.to_string() for b in stage) for stage in self.stages)

    def to_string(self) -> str:
        blocks = "|".join(",".join(stage) for stage in self.stage_strings())
        return ";".join(
            [
                f"stem={self.stem}",
                f"blocks={blocks}",
                f"head={self.head}",
                f"act={self.act}",
                f"se_base={self.se_base}",
                f"se_act={self.se_act}",
                f"se_gate={self.se_gate}",
                f"bn_eps={float(self.bn_eps)!r}",
                f"bn_momentum={float(self.bn_momentum)!r}",
                f"dropout={float(self.dropout)!r}",
            ]
        )

    @classmethod
    def from_string(cls, text: str) -> BlockGenotype:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"A mobile genotype string must be a non-empty string. Received: {text!r}")
        values: dict[str, str] = {}
        for part in text.strip().split(";"):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"Bad field {part!r} in mobile genotype string: expected key=value.")
            if key not in _KEYS:
                raise ValueError(f"Unknown field {key!r} in mobile genotype string; known fields: {', '.join(_KEYS)}.")
            if key in values:
                raise ValueError(f"Duplicate field {key!r} in mobile genotype string.")
            values[key] = value.strip()
        for key in ("stem", "blocks"):
            if key not in values:
                raise ValueError(f"Mobile genotype string lacks the field {key!r}: {text!r}")
        kwargs: dict[str, Any] = {}
        for key in ("stem", "head"):
            if key in values:
                if not _INT.fullmatch(values[key]):
                    raise ValueError(f"Field {key} must be a non-negative int. Received: {key}={values[key]!r}")
                kwargs[key] = int(values[key])
        for key in ("bn_eps", "bn_momentum", "dropout"):
            if key in values:
                try:
                    kwargs[key] = float(values[key])
                except ValueError:
                    raise ValueError(f"Field {key} must be a number. Received: {key}={values[key]!r}") from None
        for key in ("act", "se_base", "se_act", "se_gate"):
            if key in values:
                kwargs[key] = values[key]
        stages = []
        for i, stage_text in enumerate(values["blocks"].split("|")):
            if not stage_text.strip():
                raise ValueError(f"Stage {i} of the mobile genotype string is empty.")
            stages.append(tuple(BlockSpec.from_string(b) for b in stage_text.split(",")))
        return cls(stages=tuple(stages), **kwargs)

    @classmethod
    def looks_like(cls, text: str) -> bool:
        if not isinstance(text, str):
            return False
        text = text.strip()
        return text.startswith("stem=") and "blocks=" in text

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "space": self.space,
            "genotype": self.to_string(),
            "stem": self.stem,
            "stages": [list(stage) for stage in self.stage_strings()],
            "head": self.head,
            "act": self.act,
            "se_base": self.se_base,
            "se_act": self.se_act,
            "se_gate": self.se_gate,
            "bn_eps": float(self.bn_eps),
            "bn_momentum": float(self.bn_momentum),
            "dropout": float(self.dropout),
        }

    def __str__(self) -> str:
        return self.to_string()


GENOTYPE_CLASSES.register("mobile", BlockGenotype)
