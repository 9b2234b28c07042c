"""Architecture search: spaces, tabular oracles, ask/tell searchers, predictors, supernets, proxies.

Example:
    >>> from efficient_jax.nas import spaces
    >>> spaces.NB201Cell.from_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").ordinal
    0
"""

from efficient_jax.nas import benchmarks, channels, predictors, proxies, search, spaces, supernet

__all__ = ["benchmarks", "channels", "predictors", "proxies", "search", "spaces", "supernet"]
