"""Decode any genotype: a published name, a canonical string, JSON text or a JSON file."""

from __future__ import annotations

import json
import os
from typing import Any

from tfnas.genotypes.base import GENOTYPE_CLASSES, Genotype
from tfnas.registry import Registry

#: Published and project-searched genotypes by lowercase name ("darts_v2", "mobilenet_v2", ...).
PUBLISHED: Registry[Genotype] = Registry("published genotype")


def from_dict(data: dict[str, Any]) -> Genotype:
    """Decodes a genotype JSON object of any registered space.

    Raises:
        ValueError: if `space` is missing or unknown, or the content is invalid.
    """
    if not isinstance(data, dict) or "space" not in data:
        raise ValueError("Genotype JSON must be an object with a 'space' field.")
    try:
        cls = GENOTYPE_CLASSES.get(data["space"])
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None
    return cls.from_dict(data)


def parse(text: str) -> Genotype:
    """Parses a canonical genotype string or JSON text of any registered space.

    Raises:
        ValueError: saying which forms were tried and why they failed.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"Genotype text must be a non-empty string. Received: {text!r}")
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"Genotype JSON is not valid JSON: {err}") from None
        return from_dict(data)
    errors = []
    for space in GENOTYPE_CLASSES.names():
        cls = GENOTYPE_CLASSES.get(space)
        if cls.looks_like(text):
            try:
                return cls.from_string(text)
            except ValueError as err:
                errors.append(f"as {space}: {err}")
    if errors:
        raise ValueError("Invalid genotype string " + repr(text) + ": " + "; ".join(errors))
    raise ValueError(
        f"Unrecognised genotype string {text!r}. Expected a published name "
        f"({', '.join(PUBLISHED.names())}), a canonical string of one of the spaces "
        f"({', '.join(GENOTYPE_CLASSES.names())}), JSON, or a path to a JSON file."
    )


def load(spec: str) -> Genotype:
    """Resolves a published name, a path to a genotype JSON file, a string or JSON text.

    Raises:
        ValueError: if nothing matches; the message says which forms are accepted.
        FileNotFoundError: never silently; a path-looking spec that does not exist is
            reported as a ValueError naming the path.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"Genotype spec must be a non-empty string. Received: {spec!r}")
    spec = spec.strip()
    key = spec.lower().replace("-", "_")
    if key in PUBLISHED:
        return PUBLISHED.get(key)
    if spec.endswith(".json") or os.path.sep in spec and not spec.startswith(("|", "{")):
        if not os.path.exists(spec):
            raise ValueError(f"Genotype file {spec!r} does not exist.")
        with open(spec, encoding="utf-8") as f:
            content = f.read()
        try:
            data = json.loads(content)
        except json.JSONDecodeError as err:
            raise ValueError(f"Genotype file {spec!r} is not valid JSON: {err}") from None
        return from_dict(data)
    return parse(spec)


# Registers the augmentation-policy genotype ("augment" space) with the codec.
from tfnas.genotypes import policy as _policy  # noqa: E402,F401
