"""The genotype protocol shared by every search space.

A genotype is data: a frozen dataclass with a canonical one-line string and a JSON
encoding (`{"format": ..., "space": ..., ...}`), with `from_string(to_string(g)) == g`
and `from_dict(to_dict(g)) == g`. Each concrete class registers itself in
`GENOTYPE_CLASSES` under its space name, so `tfnas.genotypes.codec` can decode any of them.
"""

from __future__ import annotations

import abc
import json
from typing import Any, ClassVar, TypeVar

from tfnas.registry import Registry

G = TypeVar("G", bound="Genotype")

#: space name ("darts", "nb201", "mobile", ...) -> Genotype subclass.
GENOTYPE_CLASSES: Registry[type[Genotype]] = Registry("genotype space")


class Genotype(abc.ABC):
    """Abstract base of all genotypes.

    Subclasses are frozen dataclasses and set the class attributes `space` (the search
    space name) and `format` (the JSON format tag, versioned, e.g. `"tfnas.darts_cell/1"`).
    """

    space: ClassVar[str]
    format: ClassVar[str]

    @abc.abstractmethod
    def to_string(self) -> str:
        """Returns the canonical one-line string."""

    @classmethod
    @abc.abstractmethod
    def from_string(cls: type[G], text: str) -> G:
        """Parses the canonical string.

        Raises:
            ValueError: saying what is wrong with `text`.
        """

    @classmethod
    @abc.abstractmethod
    def looks_like(cls, text: str) -> bool:
        """Returns True when `text` is plausibly this class's string form (cheap check)."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-able dict with at least `format`, `space` and `genotype` (the string)."""

    @classmethod
    def from_dict(cls: type[G], data: dict[str, Any]) -> G:
        """Decodes `to_dict()` output; the canonical string in `genotype` is authoritative.

        Raises:
            ValueError: if the format or space does not match, or the string is invalid.
        """
        if not isinstance(data, dict):
            raise ValueError(f"Genotype JSON must be an object. Received: {type(data).__name__}")
        if data.get("space") != cls.space:
            raise ValueError(
                f"Genotype JSON has space={data.get('space')!r}, expected {cls.space!r}."
            )
        if data.get("format") != cls.format:
            raise ValueError(
                f"Genotype JSON has format={data.get('format')!r}, expected {cls.format!r}."
            )
        if "genotype" not in data:
            raise ValueError("Genotype JSON lacks the 'genotype' field (the canonical string).")
        return cls.from_string(data["genotype"])

    def to_json(self, indent: int | None = 2) -> str:
        """Returns `to_dict()` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def __str__(self) -> str:
        return self.to_string()
