"""Deprecated flag spellings: one name per idea across the absl apps, the old one kept for a release.

The names: `--model` for what to build (zoo name, genotype name, string, JSON or file),
`--image_size` for the square image side, `--seeds` for a list of seeds and `--num_seeds`
for a count. An app defines the old spelling with `define_deprecated` and reads the value
with `resolve`, which warns on stderr when the old spelling was given.
"""

from __future__ import annotations

import sys
from typing import Any

from absl import flags


def define_deprecated(kind: str, old: str, new: str) -> flags.FlagHolder:
    """Defines `--old` (a `kind` flag: "string" or "integer") as a deprecated spelling of `--new`."""
    define = {"string": flags.DEFINE_string, "integer": flags.DEFINE_integer}[kind]
    return define(old, None, f"Deprecated: use --{new}.")


def resolve(new: flags.FlagHolder, old: flags.FlagHolder) -> Any:
    """The flag's value under either spelling; warns about the old one, refuses both at once.

    Raises:
        ValueError: if both spellings were given.
    """
    if not old.present:
        return new.value
    if new.present:
        raise ValueError(f"--{old.name} is the deprecated spelling of --{new.name}: pass only --{new.name}.")
    print(f"warning: --{old.name} is deprecated and will be removed; use --{new.name}.", file=sys.stderr)
    return old.value
