"""The augmentation-policy genotype: published and searched policies as data.

Four kinds, one canonical one-line string each (magnitudes always on the papers' 0..10
level scale, probabilities in [0, 1]):

- `subpolicies`: AutoAugment's form, a list of sub-policies of `(op, probability, level)`
  steps; one sub-policy is drawn uniformly per image and its steps are applied in order,
  each with its probability::

      subpolicies:Invert,0.1,7+Contrast,0.2,6|Rotate,0.7,2+TranslateX,0.3,9

- `randaugment`: RandAugment(N, M), N ops drawn uniformly per image at level M:
  `randaugment:n=2,m=9`.
- `trivialaugment`: TrivialAugment, one op drawn uniformly per image at a uniformly drawn
  level: `trivialaugment`.
- `distribution`: a searched DDAS-style two-level policy: apply probability, then per
  stage (a sub-policy is one draw per stage) a categorical distribution over `op@level`
  entries::

      distribution:apply=0.62|Identity@0=0.5,Rotate@5=0.5|Color@10=1

Op names are those of `tfnas.ops.augment_ops.OP_NAMES`.

References:
    - Cubuk et al., AutoAugment, arXiv 1805.09501.
    - Cubuk et al., RandAugment, arXiv 1909.13719.
    - Mueller & Hutter, TrivialAugment, arXiv 2103.10158.
    - Liu et al., Direct Differentiable Augmentation Search (DDAS), arXiv 2104.04282.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar
from collections.abc import Sequence

from tfnas.genotypes.base import GENOTYPE_CLASSES, Genotype

KINDS: tuple[str, ...] = ("subpolicies", "randaugment", "trivialaugment", "distribution")
_PROB_DECIMALS = 4
_LEVEL_DECIMALS = 3
_SUM_TOLERANCE = 2e-3


def _fmt(value: float) -> str:
    text = format(value, "g")
    return "0" if text == "-0" else text


def _op_names() -> tuple[str, ...]:
    # Imported lazily: the op table lives with the TensorFlow ops (imports flow ops -> genotypes),
    # and parsing other genotypes should not pay for importing TensorFlow.
    from tfnas.ops.augment_ops import OP_NAMES

    return OP_NAMES


def _check_op(name: Any) -> str:
    if name not in _op_names():
        raise ValueError(f"Unknown augmentation op {name!r}. Known ops: {', '.join(_op_names())}.")
    return name


def _check_level(level: Any, where: str) -> float:
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: level must be a number in [0, 10]. Received: {level!r}") from None
    if not 0.0 <= value <= 10.0 or math.isnan(value):
        raise ValueError(f"{where}: level must be in [0, 10]. Received: {level!r}")
    return round(value, _LEVEL_DECIMALS)


def _check_prob(prob: Any, where: str) -> float:
    try:
        value = float(prob)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: probability must be a number in [0, 1]. Received: {prob!r}") from None
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(f"{where}: probability must be in [0, 1]. Received: {prob!r}")
    return round(value, _PROB_DECIMALS)


@dataclasses.dataclass(frozen=True)
class PolicyGenotype(Genotype):
    """An augmentation policy: published (AutoAugment, RandAugment, TrivialAugment) or searched.

    Values are canonicalised on construction (probabilities rounded to 4 decimals, levels
    to 3), so `from_string(to_string(g)) == g` and `from_dict(to_dict(g)) == g`.

    References:
        Cubuk et al., AutoAugment, arXiv 1805.09501; RandAugment, arXiv 1909.13719;
        Mueller & Hutter, TrivialAugment, arXiv 2103.10158; Liu et al., DDAS, arXiv 2104.04282.

    Args:
        kind: One of `KINDS`.
        subpolicies: `subpolicies` kind: sub-policies of `(op, probability, level)` steps.
        n: `randaugment` kind: ops per image (N >= 1).
        m: `randaugment` kind: level (M in [0, 10]).
        apply: `distribution` kind: probability that an image is augmented at all.
        stages: `distribution` kind: per stage, `(op, level, probability)` entries whose
            probabilities sum to 1.

    Raises:
        ValueError: saying which field is wrong: unknown kind or op, a probability outside
            [0, 1], a level outside [0, 10], a stage whose probabilities do not sum to 1,
            fields that do not belong to the kind.

    Example:
    >>> g = PolicyGenotype.from_string("randaugment:n=2,m=9")
    >>> (g.n, g.m)
    (2, 9.0)
    >>> PolicyGenotype.from_string(g.to_string()) == g
    True
    """

    space: ClassVar[str] = "augment"
    format: ClassVar[str] = "tfnas.augment_policy/1"

    kind: str
    subpolicies: tuple[tuple[tuple[str, float, float], ...], ...] = ()
    n: int = 0
    m: float = 0.0
    apply: float = 0.0
    stages: tuple[tuple[tuple[str, float, float], ...], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}. Received: kind={self.kind!r}")
        used = {"subpolicies": ("subpolicies",), "randaugment": ("n", "m"), "trivialaugment": (),
                "distribution": ("apply", "stages")}[self.kind]
        defaults = {"subpolicies": (), "n": 0, "m": 0.0, "apply": 0.0, "stages": ()}
        extra = [k for k, v in defaults.items() if k not in used and getattr(self, k) != v]
        if extra:
            raise ValueError(f"A {self.kind!r} policy takes no {', '.join(extra)}. Received: {self!r}")
        if self.kind == "subpolicies":
            object.__setattr__(self, "subpolicies", self._canonical_subpolicies(self.subpolicies))
        elif self.kind == "randaugment":
            if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
                raise ValueError(f"randaugment: n must be an integer >= 1. Received: n={self.n!r}")
            object.__setattr__(self, "m", _check_level(self.m, "randaugment m"))
        elif self.kind == "distribution":
            object.__setattr__(self, "apply", _check_prob(self.apply, "distribution apply"))
            object.__setattr__(self, "stages", self._canonical_stages(self.stages))

    @staticmethod
    def _canonical_subpolicies(subpolicies: Any) -> tuple:
        if not subpolicies:
            raise ValueError("subpolicies: need at least one sub-policy.")
        out = []
        for i, sub in enumerate(subpolicies):
            if not sub:
                raise ValueError(f"subpolicies: sub-policy {i} is empty.")
            steps = []
            for j, step in enumerate(sub):
                if len(step) != 3:
                    raise ValueError(
                        f"subpolicies: step {j} of sub-policy {i} must be (op, probability, level). Received: {step!r}"
                    )
                op, prob, level = step
                where = f"sub-policy {i} step {j} ({op})"
                steps.append((_check_op(op), _check_prob(prob, where), _check_level(level, where)))
            out.append(tuple(steps))
        return tuple(out)

    @staticmethod
    def _canonical_stages(stages: Any) -> tuple:
        if not stages:
            raise ValueError("distribution: need at least one stage.")
        out = []
        for i, stage in enumerate(stages):
            entries = []
            seen = set()
            for entry in stage:
                if len(entry) != 3:
                    raise ValueError(f"distribution stage {i}: entries are (op, level, probability). Received: {entry!r}")
                op, level, prob = entry
                where = f"distribution stage {i} entry {op}@{level}"
                key = (_check_op(op), _check_level(level, where))
                if key in seen:
                    raise ValueError(f"{where}: duplicate entry.")
                seen.add(key)
                entries.append((key[0], key[1], _check_prob(prob, where)))
            total = sum(p for _, _, p in entries)
            if not entries or abs(total - 1.0) > _SUM_TOLERANCE * max(1, len(entries) / 10):
                raise ValueError(
                    f"distribution stage {i}: probabilities must sum to 1. Received: sum={total:.4f}. "
                    "Build searched policies with PolicyGenotype.from_probabilities, which normalises."
                )
            out.append(tuple(entries))
        return tuple(out)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_probabilities(
        cls, apply: float, stage_probabilities: Sequence[Sequence[float]], entries: Sequence[tuple[str, float]],
        min_probability: float = 0.0,
    ) -> PolicyGenotype:
        """Builds a `distribution` policy from a searched policy's probabilities.

        Args:
            apply: The apply probability.
            stage_probabilities: Per stage, one probability per entry (normalised here).
            entries: `(op, level)` of each entry, in the order of the probabilities.
            min_probability: Entries below this probability are dropped (then the rest is
                renormalised); 0 keeps every entry.

        Returns:
            The `distribution` genotype.

        Raises:
            ValueError: for mismatched lengths or invalid values.

        Example:
        >>> g = PolicyGenotype.from_probabilities(0.5, [[0.25, 0.75]], [("Identity", 0), ("Rotate", 5)])
        >>> g.to_string()
        'distribution:apply=0.5|Identity@0=0.25,Rotate@5=0.75'
        """
        stages = []
        for i, probs in enumerate(stage_probabilities):
            probs = [float(p) for p in probs]
            if len(probs) != len(entries):
                raise ValueError(f"stage {i} has {len(probs)} probabilities for {len(entries)} entries.")
            kept = [(e, p) for e, p in zip(entries, probs) if p >= min_probability] or [
                max(zip(entries, probs), key=lambda t: t[1])]
            total = sum(p for _, p in kept)
            if not total > 0:
                raise ValueError(f"stage {i}: probabilities must have a positive sum. Received: {probs}")
            rounded = [round(p / total, _PROB_DECIMALS) for _, p in kept]
            # Put the rounding residue on the largest entry so the stage sums to 1 to 4 decimals.
            top = max(range(len(rounded)), key=rounded.__getitem__)
            rounded[top] = round(rounded[top] + 1.0 - sum(rounded), _PROB_DECIMALS)
            stages.append(tuple((op, level, p) for (op, level), p in zip((e for e, _ in kept), rounded)))
        return cls(kind="distribution", apply=apply, stages=tuple(stages))

    # ------------------------------------------------------------------ string codec
    def to_string(self) -> str:
        """Returns the canonical one-line string (see the module docstring)."""
        if self.kind == "subpolicies":
            subs = ["+".join(f"{op},{_fmt(p)},{_fmt(level)}" for op, p, level in sub) for sub in self.subpolicies]
            return "subpolicies:" + "|".join(subs)
        if self.kind == "randaugment":
            return f"randaugment:n={self.n},m={_fmt(self.m)}"
        if self.kind == "trivialaugment":
            return "trivialaugment"
        stages = [",".join(f"{op}@{_fmt(level)}={_fmt(p)}" for op, level, p in stage) for stage in self.stages]
        return f"distribution:apply={_fmt(self.apply)}|" + "|".join(stages)

    @classmethod
    def looks_like(cls, text: str) -> bool:
        return isinstance(text, str) and text.strip().split(":", 1)[0] in KINDS

    @classmethod
    def from_string(cls, text: str) -> PolicyGenotype:
        """Parses the canonical string.

        Raises:
            ValueError: saying what is wrong with `text` and what the form should be.
        """
        if not isinstance(text, str):
            raise ValueError(f"Policy string must be a str. Received: {type(text).__name__}")
        text = text.strip()
        kind, _, body = text.partition(":")
        try:
            if kind == "trivialaugment" and not body:
                return cls(kind="trivialaugment")
            if kind == "randaugment":
                fields = dict(part.split("=", 1) for part in body.split(","))
                if set(fields) != {"n", "m"}:
                    raise ValueError("expected exactly n=<int>,m=<level>")
                return cls(kind="randaugment", n=int(fields["n"]), m=float(fields["m"]))
            if kind == "subpolicies":
                subs = []
                for sub in body.split("|"):
                    steps = []
                    for step in sub.split("+"):
                        op, prob, level = step.split(",")
                        steps.append((op, float(prob), float(level)))
                    subs.append(tuple(steps))
                return cls(kind="subpolicies", subpolicies=tuple(subs))
            if kind == "distribution":
                head, *stage_texts = body.split("|")
                name, _, value = head.partition("=")
                if name != "apply" or not stage_texts:
                    raise ValueError("expected apply=<p>|<stage>|<stage>...")
                stages = []
                for stage in stage_texts:
                    entries = []
                    for entry in stage.split(","):
                        key, prob = entry.split("=")
                        op, level = key.split("@")
                        entries.append((op, float(level), float(prob)))
                    stages.append(tuple(entries))
                return cls(kind="distribution", apply=float(value), stages=tuple(stages))
        except ValueError as err:
            raise ValueError(f"Invalid {kind} policy string {text!r}: {err}") from None
        raise ValueError(
            f"Invalid policy string {text!r}: expected one of 'subpolicies:op,p,level+...|...', "
            "'randaugment:n=N,m=M', 'trivialaugment', 'distribution:apply=p|op@level=p,...|...'."
        )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON form: format, space, kind, the canonical string and readable fields."""
        data: dict[str, Any] = {"format": self.format, "space": self.space, "kind": self.kind,
                                "genotype": self.to_string()}
        if self.kind == "subpolicies":
            data["subpolicies"] = [[{"op": op, "probability": p, "level": lv} for op, p, lv in sub]
                                   for sub in self.subpolicies]
        elif self.kind == "randaugment":
            data.update(n=self.n, m=self.m)
        elif self.kind == "distribution":
            data["apply"] = self.apply
            data["stages"] = [[{"op": op, "level": lv, "probability": p} for op, lv, p in stage]
                              for stage in self.stages]
        return data

    # ------------------------------------------------------------------ reading
    def top_entries(self, k: int = 5) -> list[list[tuple[str, float, float]]]:
        """`distribution` kind: the `k` most probable `(op, level, probability)` of each stage.

        Raises:
            ValueError: for another kind.
        """
        if self.kind != "distribution":
            raise ValueError(f"top_entries needs a distribution policy. Received: kind={self.kind!r}")
        return [sorted(stage, key=lambda e: -e[2])[:k] for stage in self.stages]


GENOTYPE_CLASSES.register("augment", PolicyGenotype)
