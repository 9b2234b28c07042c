"""Every ask/tell searcher by name, registered in this one file.

A searcher is a :class:`~efficient_jax.nas.search.Searcher` subclass constructed as
``cls(pool, **options)`` (keyword-only options). Adding one is a module in this package plus one
line in :data:`_BUILTIN` (see ``docs/CONTRIBUTING.md``); ``tests/nas/searchers_contract_test.py``
then checks it over a small synthetic table.

Example:
    >>> import numpy as np
    >>> from efficient_jax.nas.search import Pool, available_searchers, make_searcher
    >>> available_searchers()
    ['random', 'evolution', 'local', 'weaknas', 'nars', 'bo']
    >>> s = make_searcher("random", Pool.from_encodings(np.eye(4, dtype=np.float32)), batch=2)
    >>> type(s).__name__, s.batch
    ('RandomSearch', 2)
"""

from __future__ import annotations

import inspect
from typing import Any

from efficient_jax.core import Registry
from efficient_jax.nas.search._base import (
    LocalSearch,
    Pool,
    RandomSearch,
    RegularizedEvolution,
    Searcher,
)
from efficient_jax.nas.search._bo import BayesOpt
from efficient_jax.nas.search._nars import NARS
from efficient_jax.nas.search._weaknas import WeakNAS

SEARCHERS = Registry("searcher")

_BUILTIN: tuple[tuple[str, type[Searcher]], ...] = (
    ("random", RandomSearch),
    ("evolution", RegularizedEvolution),
    ("local", LocalSearch),
    ("weaknas", WeakNAS),
    ("nars", NARS),
    ("bo", BayesOpt),
)

for _name, _cls in _BUILTIN:
    SEARCHERS.register(_name, _cls)


def available_searchers() -> list[str]:
    """Registered searcher names, in registration order.

    Example:
        >>> "weaknas" in available_searchers()
        True
    """
    return SEARCHERS.names()


def searcher_options(name: str) -> list[str]:
    """The keyword options the searcher ``name`` accepts (besides the pool).

    Example:
        >>> searcher_options("nars")
        ['n_nbr', 'distance', 'aggregation']
    """
    params = list(inspect.signature(SEARCHERS.get(name)).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def make_searcher(name: str, pool: Pool, **options: Any) -> Searcher:
    """Builds the searcher registered as ``name`` over ``pool``.

    Args:
      name: one of :func:`available_searchers`.
      pool: the candidate rows (a :class:`~efficient_jax.nas.search.Pool`).
      **options: the searcher's keyword options (see :func:`searcher_options`); the others keep
        their defaults.

    Returns:
      A fresh searcher (nothing told yet).

    Raises:
      ValueError: for an unknown name (listing the registered ones), an unknown option (listing
        the allowed ones) or an invalid value.

    Example:
        >>> import numpy as np
        >>> pool = Pool.from_encodings(np.eye(8, dtype=np.float32))
        >>> make_searcher("evolution", pool, population=4, sample=2).population
        4
        >>> make_searcher("evolution", pool, size=4)
        Traceback (most recent call last):
        ...
        ValueError: Unknown option(s) ['size'] for searcher 'evolution'; allowed: [...].
    """
    cls = SEARCHERS.get(name)
    allowed = searcher_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for searcher {name!r}; allowed: {allowed}.")
    if not isinstance(pool, Pool):
        raise ValueError(f"pool must be a search.Pool, got {type(pool).__name__}.")
    return cls(pool, **options)
