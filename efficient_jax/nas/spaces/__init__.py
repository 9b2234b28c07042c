"""Search spaces as small immutable objects: NAS-Bench-201/101 cells and product spaces.

Each architecture has ``encode()``, ``neighbors()`` and ``hash()``; each space ``sample(key)``.

Example:
    >>> import jax
    >>> from efficient_jax.nas.spaces import NB201Cell
    >>> len(NB201Cell.sample(jax.random.key(0)).neighborhood(2))
    265
"""

from efficient_jax.nas.spaces._nb101 import NB101_OPS, NB101Cell
from efficient_jax.nas.spaces._nb201 import (
    NB201_EDGES,
    NB201_OPS,
    NB201_SIZE,
    NB201Cell,
    nb201_all_cells,
    nb201_neighbor_table,
)
from efficient_jax.nas.spaces._product import (
    ProductArch,
    ProductSpace,
    channel_space,
    mobilenet_space,
    sample_pool,
)

__all__ = [
    "NB101_OPS",
    "NB101Cell",
    "NB201_EDGES",
    "NB201_OPS",
    "NB201_SIZE",
    "NB201Cell",
    "ProductArch",
    "ProductSpace",
    "channel_space",
    "mobilenet_space",
    "nb201_all_cells",
    "nb201_neighbor_table",
    "sample_pool",
]
