"""A tiny name → object registry for config-selected components (models, trainers, compressors).

Example:
    >>> models = Registry("model")
    >>> @models.register("mlp")
    ... def make_mlp():
    ...     return "an mlp"
    >>> models.get("mlp")()
    'an mlp'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


class Registry:
    """Maps names to objects; unknown names raise a ``ValueError`` listing the valid ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise ValueError(f"Unknown {self.kind} {name!r}; valid: {sorted(self._items)}.")
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
