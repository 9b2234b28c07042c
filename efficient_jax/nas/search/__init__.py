"""Ask/tell architecture searchers over a pool: random, regularized evolution, local search,
WeakNAS (+ a lock-step batched version), NA-RS and GP-BO; Pareto fronts; trace metrics.

By name: :data:`SEARCHERS` (filled in ``_registry.py``), :func:`available_searchers`,
:func:`make_searcher`. Every searcher saves and restores its state (``state_dict`` /
``load_state_dict``) to resume a search on the same trajectory.

Example:
    >>> import jax, numpy as np
    >>> from efficient_jax.nas import search
    >>> vals = np.arange(50.0)
    >>> class View:
    ...     maximize = True
    ...     def query(self, rows): return vals[rows]
    >>> pool = search.Pool.from_encodings(np.eye(50, dtype=np.float32))
    >>> out = search.run_search(search.RandomSearch(pool), View(), budget=10, key=jax.random.key(0))
    >>> len(out["trace"])
    10
"""

from efficient_jax.nas.search._base import (
    LocalSearch,
    Pool,
    RandomSearch,
    RegularizedEvolution,
    Searcher,
    pareto_front,
    rng_from,
    run_search,
)
from efficient_jax.nas.search._bo import BayesOpt
from efficient_jax.nas.search._metrics import (
    best_so_far,
    optimal_rows,
    samples_to_reach,
    score_rows,
    summarize,
)
from efficient_jax.nas.search._nars import AGGREGATIONS, NARS, aggregate
from efficient_jax.nas.search._registry import (
    SEARCHERS,
    available_searchers,
    make_searcher,
    searcher_options,
)
from efficient_jax.nas.search._weaknas import (
    META_SAMPLERS,
    SAMPLINGS,
    WeakNAS,
    expected_improvement,
    rank_weights,
    weaknas_batched,
)

__all__ = [
    "AGGREGATIONS",
    "META_SAMPLERS",
    "NARS",
    "SAMPLINGS",
    "SEARCHERS",
    "BayesOpt",
    "LocalSearch",
    "Pool",
    "RandomSearch",
    "RegularizedEvolution",
    "Searcher",
    "WeakNAS",
    "aggregate",
    "available_searchers",
    "best_so_far",
    "expected_improvement",
    "make_searcher",
    "optimal_rows",
    "pareto_front",
    "rank_weights",
    "rng_from",
    "run_search",
    "samples_to_reach",
    "score_rows",
    "searcher_options",
    "summarize",
    "weaknas_batched",
]
