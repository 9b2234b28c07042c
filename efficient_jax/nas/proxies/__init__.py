"""Zero-cost proxies: score an architecture at initialisation from one batch, without training.

Every proxy is ``proxy(apply_fn, params, batch) -> scalar`` with ``apply_fn(params, x, train)``
(logits); :func:`score_cells` runs one over many masks of a masked supernet with a single
compilation. Definitions follow NASLib / Abdelfattah et al., "Zero-Cost Proxies for Lightweight
NAS" (ICLR 2021), plus NTK condition number (TE-NAS), GradSign and W-PCA (spec 004 #2, #5, #7).

Example:
    >>> import jax, jax.numpy as jnp, flax.linen as nn
    >>> from efficient_jax.nas.proxies import get_proxy
    >>> m = nn.Sequential([nn.Dense(8), nn.relu, nn.Dense(3)])
    >>> p = m.init(jax.random.key(0), jnp.ones((1, 5)))["params"]
    >>> batch = {"image": jax.random.normal(jax.random.key(1), (4, 5)), "label": jnp.arange(4) % 3}
    >>> bool(get_proxy("snip")(lambda p, x, t: m.apply({"params": p}, x), p, batch) > 0)
    True
"""

from efficient_jax.nas.proxies._activation import gradsign, jacov, ntk_cond, nwot, relu_kernel
from efficient_jax.nas.proxies._gradient import (
    fisher,
    grad_norm,
    grasp,
    l2_norm,
    plain,
    snip,
    synflow,
)
from efficient_jax.nas.proxies._init import torch_default_init
from efficient_jax.nas.proxies._nb201 import (
    INITS,
    NB201_NWOT,
    NB201_PROXY_KWARGS,
    init_nb201_supernet,
    per_cell_init_fn,
    proxy_correlations,
    proxy_groups,
    score_nb201_cells,
)
from efficient_jax.nas.proxies._score import (
    PROXIES,
    available_proxies,
    get_proxy,
    make_scorer,
    rank_correlation,
    score_cells,
    supernet_apply_fn,
)
from efficient_jax.nas.proxies._taps import active_layers, output_grads, tapped_apply
from efficient_jax.nas.proxies._wpca import pca_dim, wpca

__all__ = [
    "INITS",
    "NB201_NWOT",
    "NB201_PROXY_KWARGS",
    "PROXIES",
    "active_layers",
    "available_proxies",
    "fisher",
    "get_proxy",
    "grad_norm",
    "gradsign",
    "grasp",
    "init_nb201_supernet",
    "jacov",
    "l2_norm",
    "make_scorer",
    "ntk_cond",
    "nwot",
    "output_grads",
    "pca_dim",
    "per_cell_init_fn",
    "plain",
    "proxy_correlations",
    "proxy_groups",
    "rank_correlation",
    "relu_kernel",
    "score_cells",
    "score_nb201_cells",
    "snip",
    "supernet_apply_fn",
    "synflow",
    "tapped_apply",
    "torch_default_init",
    "wpca",
]
