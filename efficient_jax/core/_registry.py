"""A tiny name → object registry: one per kind of extension (models, compressors, searchers, ...).

Each kind fills its registry in one visible place, by explicit lines (``docs/CONTRIBUTING.md``).
A registry reads like a read-only mapping (``name in reg``, ``reg[name]``, ``len(reg)``,
``reg.items()``, iteration in registration order); an unknown name, looked up by ``get`` or
``[]``, raises a ``ValueError`` whose message lists the valid names.

Example:
    >>> models = Registry("model")
    >>> @models.register("mlp")
    ... def make_mlp():
    ...     return "an mlp"
    >>> models.get("mlp")()
    'an mlp'
    >>> models.register("cnn", "a cnn")
    'a cnn'
    >>> models.names(), len(models), models["cnn"]
    (['mlp', 'cnn'], 2, 'a cnn')
    >>> models.get("vit")
    Traceback (most recent call last):
    ...
    ValueError: Unknown model 'vit'; valid: ['cnn', 'mlp'].
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator
from typing import Any

_MISSING = object()


class Registry:
    """Maps names to objects, in registration order.

    Args:
      kind: what is registered (``"model"``, ``"searcher"``, ...), used in error messages.

    Example:
        >>> reg = Registry("thing")
        >>> reg.register("a", 1)
        1
        >>> dict(reg.items()), "a" in reg, list(reg)
        ({'a': 1}, True, ['a'])
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}

    def register(self, name: str, obj: Any = _MISSING) -> Any:
        """Registers ``obj`` as ``name`` and returns it; without ``obj``, a decorator doing that.

        Raises:
          ValueError: if ``name`` is not a non-empty string or is already registered.

        Example:
            >>> reg = Registry("thing")
            >>> @reg.register("f")
            ... def f():
            ...     return 1
            >>> reg.register("f", 2)
            Traceback (most recent call last):
            ...
            ValueError: thing 'f' is already registered.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self.kind} name must be a non-empty string, got {name!r}.")

        def deco(obj: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered.")
            self._items[name] = obj
            return obj

        return deco if obj is _MISSING else deco(obj)

    def get(self, name: str) -> Any:
        """The object registered as ``name``.

        Raises:
          ValueError: for an unknown name, listing the valid ones.

        Example:
            >>> reg = Registry("thing")
            >>> reg.register("a", 1)
            1
            >>> reg.get("a")
            1
        """
        if not isinstance(name, str) or name not in self._items:
            raise ValueError(f"Unknown {self.kind} {name!r}; valid: {sorted(self._items)}.")
        return self._items[name]

    def names(self) -> list[str]:
        """Registered names, in registration order.

        Example:
            >>> reg = Registry("thing")
            >>> reg.register("b", 1), reg.register("a", 2)
            (1, 2)
            >>> reg.names()
            ['b', 'a']
        """
        return list(self._items)

    def items(self) -> ItemsView[str, Any]:
        """``(name, object)`` pairs, in registration order (a read-only view)."""
        return self._items.items()

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
