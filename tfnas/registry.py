"""Decorator registries that refuse duplicate names.

The only global state tfnas keeps: name -> object tables filled at import time.
"""

from __future__ import annotations

from typing import Generic, TypeVar
from collections.abc import Callable, Iterator

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table that refuses duplicate names.

    Args:
        kind: What the registry holds, used in error messages (e.g. `"genotype"`).

    Example:
    >>> ops = Registry("op")
    >>> @ops.register("identity")
    ... def identity(x):
    ...     return x
    >>> ops.get("identity")(3)
    3
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Registers `obj` under `name`; used as a decorator when `obj` is omitted.

        Raises:
            ValueError: if `name` is already registered or not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string. Received: name={name!r}")

        def _add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered; names must be unique.")
            self._items[name] = item
            return item

        if obj is None:
            return _add
        return _add(obj)

    def get(self, name: str) -> T:
        """Returns the object registered under `name`.

        Raises:
            KeyError: naming the unknown `name` and listing the known ones.
        """
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"Unknown {self.kind} {name!r}. Known {self.kind}s: {known}.") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        """Returns the registered names, sorted."""
        return sorted(self._items)
