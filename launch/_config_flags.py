"""Flags made from a typed config: one absl flag per field of a config dataclass.

`define_config_flags(SearchConfig, exclude=("algorithm",))` defines `--epochs`, `--tau_max`,
... with the field's type and the help text of its `Args:` entry in the class docstring, each
defaulting to None: an unset flag keeps the algorithm's paper default. A field added to the
config is a flag of every app that defines them, with no hand-written list to update.
`config_overrides(holders)` returns the fields the user set.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from absl import flags

_DEFINE = {"int": flags.DEFINE_integer, "float": flags.DEFINE_float, "bool": flags.DEFINE_bool,
           "str": flags.DEFINE_string}


def field_help(cls: type) -> dict[str, str]:
    """The `Args:` entries of `cls`'s docstring, one line each."""
    doc = cls.__doc__ or ""
    section = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    section = re.split(r"\n\s*\n\s*(?:Raises|Returns|Example)", section, maxsplit=1)[0]
    helps: dict[str, str] = {}
    name, indent = None, 0
    for line in section.splitlines():
        match = re.match(r"^\s{4,8}(\w+): (.*)$", line)
        if match and (name is None or len(line) - len(line.lstrip()) <= indent):
            name, indent = match.group(1), len(line) - len(line.lstrip())
            helps[name] = match.group(2).strip()
        elif name is not None and line.strip():
            helps[name] += " " + line.strip()
    return helps


def define_config_flags(cls: type, exclude: tuple[str, ...] = ()) -> dict[str, flags.FlagHolder]:
    """Defines one flag per field of the dataclass `cls` (not in `exclude`); returns field -> holder.

    Raises:
        TypeError: for a field whose type is not int, float, bool or str (optionally `| None`).
    """
    helps = field_help(cls)
    holders: dict[str, flags.FlagHolder] = {}
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        kind = str(field.type).replace(" | None", "").replace("Optional[", "").rstrip("]")
        if kind not in _DEFINE:
            raise TypeError(f"{cls.__name__}.{field.name} has type {field.type!r}; a flag needs int, float, bool or str.")
        text = helps.get(field.name, field.name.replace("_", " "))
        holders[field.name] = _DEFINE[kind](field.name, None, f"{text} (unset: the algorithm's paper default)")
    return holders


def config_overrides(holders: dict[str, flags.FlagHolder]) -> dict[str, Any]:
    """The fields whose flag was given: field -> value."""
    return {name: holder.value for name, holder in holders.items() if holder.value is not None}
