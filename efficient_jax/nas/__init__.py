"""Architecture search: search spaces, tabular benchmark oracles, ask/tell searchers, predictors.

Example:
    >>> from efficient_jax.nas import spaces
    >>> spaces.NB201Cell.from_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").ordinal
    0
"""

from efficient_jax.nas import benchmarks, predictors, search, spaces

__all__ = ["benchmarks", "predictors", "search", "spaces"]
