"""NB201 adapters for proxy scoring: initialisation, grouped scoring passes, and a switch edge.

:func:`init_nb201_supernet` / :func:`per_cell_init_fn` give the weights the cells are scored at
(NASLib: PyTorch's default initialisation, one draw shared or one per cell);
:func:`proxy_groups` and :func:`score_nb201_cells` run the proxies in as few compiled passes as
they allow; :func:`proxy_correlations` ranks the scores against accuracy.

The supernet's :class:`~efficient_jax.nas.supernet.MixedEdge` computes all five ops and weighs
them, which under ``jax.vmap`` over masks is the price of one compilation for all cells. For a
loop over one-hot masks inside one jitted ``lax.map``, :class:`SwitchEdge` (same parameter paths,
so the same variables) dispatches with ``lax.switch`` and executes only the selected op: the cost
per cell is that of the discrete network, with still a single compilation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.nas.proxies._init import torch_default_init
from efficient_jax.nas.proxies._score import rank_correlation, score_cells, supernet_apply_fn
from efficient_jax.nas.supernet import ReLUConvBN, avg_pool_3x3

# NASLib's NB201 ReLUs sit before every ReLU-conv-BN op's conv and after the last BatchNorm.
NB201_NWOT = {"relu_inputs": r"/conv$", "relu_outputs": r"^last_bn$"}


class SwitchEdge(nn.Module):
    """An NB201 edge computing ``w[k] · op_k(x)`` for ``k = argmax w`` only (one-hot masks)."""

    features: int

    def setup(self):
        self.nor_conv_1x1 = ReLUConvBN(self.features, 1)
        self.nor_conv_3x3 = ReLUConvBN(self.features, 3)

    def __call__(self, x: jax.Array, w: jax.Array, train: bool = False) -> jax.Array:
        if self.is_initializing():
            return w[2] * self.nor_conv_1x1(x, train) + w[3] * self.nor_conv_3x3(x, train)
        k = jnp.argmax(w)
        branches = (
            lambda m, h: jnp.zeros_like(h),
            lambda m, h: h,
            lambda m, h: m.nor_conv_1x1(h, train),
            lambda m, h: m.nor_conv_3x3(h, train),
            lambda m, h: avg_pool_3x3(h),
        )
        return w[k].astype(x.dtype) * nn.switch(k, branches, self, x)


# per-proxy options on NASLib's NB201 networks
NB201_PROXY_KWARGS = {"nwot": NB201_NWOT}
INITS = ("torch", "flax")


def _check_init(init: str) -> None:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}.")


def init_nb201_supernet(net: nn.Module, x: jax.Array, *, key: jax.Array, init: str = "torch"):
    """The supernet's variables for scoring: ``net.init(key, x[:1], uniform mask)``, then, with
    ``init="torch"``, PyTorch's default initialisation (NASLib's) keyed by ``fold_in(key, 1)``.

    Raises:
      ValueError: for an ``init`` other than ``"torch"`` or ``"flax"``.

    Example:
        >>> import flax.linen as nn, jax, jax.numpy as jnp
        >>> class Cell(nn.Module):  # stands in for NB201Supernet: (x, (6, 5) weights, train)
        ...     @nn.compact
        ...     def __call__(self, x, w, train=False):
        ...         h = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x) * w.sum())
        ...         return nn.Dense(3)(h)
        >>> from efficient_jax.nas.proxies import init_nb201_supernet
        >>> v = init_nb201_supernet(Cell(), jnp.ones((2, 5)), key=jax.random.key(0))
        >>> sorted(v), bool(jnp.abs(v["params"]["Dense_0"]["kernel"]).max() <= 5**-0.5)
        (['batch_stats', 'params'], True)
    """
    _check_init(init)
    variables = net.init(key, x[:1], jnp.full((6, 5), 0.2))
    if init == "torch":
        params = torch_default_init(variables["params"], jax.random.fold_in(key, 1))
        variables = {**variables, "params": params}
    return variables


def per_cell_init_fn(
    net: nn.Module, masks: np.ndarray, x: jax.Array, *, key: jax.Array, init: str = "torch"
) -> Callable[[Any, jax.Array], Any]:
    """``(params, i) -> params``: an independent initialisation of each cell (the ``params_fn``
    of :func:`score_cells`), as NASLib, which builds every architecture afresh, scores them.

    Cell ``i``'s key is ``fold_in(key, cell id)`` with the id the base-5 number of its six ops,
    so a cell gets the same weights in every run and every subset of cells.

    Example:
        >>> import flax.linen as nn, jax, jax.numpy as jnp
        >>> class Cell(nn.Module):  # stands in for NB201Supernet: (x, (6, 5) weights, train)
        ...     @nn.compact
        ...     def __call__(self, x, w, train=False):
        ...         h = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x) * w.sum())
        ...         return nn.Dense(3)(h)
        >>> from efficient_jax.nas.proxies import per_cell_init_fn
        >>> x = jnp.ones((2, 5))
        >>> p = Cell().init(jax.random.key(0), x, jnp.full((6, 5), 0.2))["params"]
        >>> masks = jnp.eye(5)[jnp.array([[1] * 6, [2] * 6, [1] * 6])]
        >>> fn = per_cell_init_fn(Cell(), masks, x, key=jax.random.key(1))
        >>> a, b, c = (fn(p, i)["Dense_1"]["kernel"] for i in range(3))
        >>> bool((a != b).any()), bool((a == c).all())  # same cell, same weights
        (True, True)
    """
    _check_init(init)
    masks = np.asarray(masks)
    cell_ids = jnp.asarray(masks.argmax(-1) @ (5 ** np.arange(masks.shape[1])), jnp.int32)
    x1 = x[:1]

    def params_fn(params, i):
        k = jax.random.fold_in(key, cell_ids[i])
        if init == "torch":
            return torch_default_init(params, k)
        return net.init(k, x1, jnp.full((6, 5), 0.2))["params"]

    return params_fn


def proxy_groups(names: Sequence[str], *, one_pass: bool = True) -> list[tuple[str, ...]]:
    """Proxies grouped into compiled passes: ``synflow`` alone (float64, its own batch), then the
    others together (``one_pass``, sharing their forward/backward passes) or one by one.

    Example:
        >>> from efficient_jax.nas.proxies import proxy_groups
        >>> proxy_groups(["snip", "synflow", "nwot"])
        [('synflow',), ('snip', 'nwot')]
        >>> proxy_groups(["snip", "nwot"], one_pass=False)
        [('snip',), ('nwot',)]
    """
    rest = tuple(p for p in names if p != "synflow")
    groups = [("synflow",)] if "synflow" in names else []
    if one_pass:
        return groups + ([rest] if rest else [])
    return groups + [(p,) for p in rest]


def score_nb201_cells(
    group: Sequence[str],
    net: nn.Module,
    batch: Any,
    masks: np.ndarray,
    *,
    key: jax.Array,
    init: str = "torch",
    init_per_cell: bool = False,
    chunk_size: int = 1,
    synflow_chunk_size: int = 32,
    progress: bool = False,
    resume: tuple[int, Any] | None = None,
    checkpoint_fn: Callable[[int, dict[str, np.ndarray]], Any] | None = None,
    checkpoint_every: int = 1024,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Scores NB201 cells (one-hot ``masks``) with one group of :func:`proxy_groups` (NASLib's
    protocol) through :func:`score_cells` on the masked supernet ``net``.

    The weights are :func:`init_nb201_supernet` with ``key`` and ``init``, shared by all cells, or
    with ``init_per_cell`` one draw per cell (:func:`per_cell_init_fn`, ``fold_in(key, 2)``).
    ``("synflow",)`` alone runs in float64 (``jax.enable_x64``: its path products overflow
    float32 on real NB201 nets) with ``synflow_chunk_size`` masks per call; other groups use
    ``chunk_size`` and NASLib's NB201 ReLU taps for ``nwot`` (:data:`NB201_PROXY_KWARGS`).
    ``resume=(done, scores)`` continues an interrupted pass; ``checkpoint_fn(done, scores)`` gets
    a copy of the scores whenever ``checkpoint_every`` more cells are done, and at the end.

    Returns:
      ``({proxy: (n,) scores}, stats)`` with ``stats`` as :func:`score_cells`'s ``stats_out``.

    Example:
        >>> import flax.linen as nn, jax, jax.numpy as jnp
        >>> class Cell(nn.Module):  # stands in for NB201Supernet: (x, (6, 5) weights, train)
        ...     @nn.compact
        ...     def __call__(self, x, w, train=False):
        ...         h = nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x) * w.sum())
        ...         return nn.Dense(3)(h)
        >>> from efficient_jax.nas import proxies
        >>> batch = {"image": jnp.ones((2, 5)), "label": jnp.arange(2)}
        >>> masks = jnp.eye(5)[jnp.array([[3] * 6, [1] * 6])]
        >>> key = jax.random.key(0)
        >>> s, st = proxies.score_nb201_cells(("l2_norm",), Cell(), batch, masks, key=key)
        >>> s["l2_norm"].shape, "per_arch_s" in st
        ((2,), True)
    """
    group = tuple(group)
    variables = init_nb201_supernet(net, batch["image"], key=key, init=init)
    apply_fn = supernet_apply_fn(net, variables["batch_stats"])
    n = np.shape(masks)[0]
    every = max(int(checkpoint_every), 1)
    last = [resume[0] if resume else 0]

    def on_chunk(done, scores):
        if checkpoint_fn is not None and (done - last[0] >= every or done == n):
            checkpoint_fn(done, {p: np.array(v) for p, v in scores.items()})  # a copy
            last[0] = done

    synflow_only = group == ("synflow",)
    ctx = jax.enable_x64(True) if synflow_only else contextlib.nullcontext()
    stats: dict[str, float] = {}
    with ctx:
        params_fn = None
        if init_per_cell:
            k = jax.random.fold_in(key, 2)
            params_fn = per_cell_init_fn(net, masks, batch["image"], key=k, init=init)
        scores = score_cells(
            list(group),
            apply_fn,
            variables["params"],
            batch,
            masks,
            chunk_size=synflow_chunk_size if synflow_only else chunk_size,
            progress=progress,
            proxy_kwargs={p: NB201_PROXY_KWARGS[p] for p in group if p in NB201_PROXY_KWARGS},
            stats_out=stats,
            resume=resume,
            on_chunk=on_chunk,
            params_fn=params_fn,
        )
    return scores, stats


def proxy_correlations(
    scores: Sequence[float], accuracy: Sequence[float], reference: Sequence[float] | None = None
) -> dict[str, float]:
    """Kendall τ and Spearman ρ of ``scores`` with ``accuracy``; with ``reference`` scores (e.g.
    NASLib's for the same cells) also ``reference_kendall_tau`` (theirs with accuracy) and
    ``vs_reference_kendall_tau`` (ours with theirs).

    Example:
        >>> from efficient_jax.nas.proxies import proxy_correlations
        >>> out = proxy_correlations([1, 2, 3], [0.1, 0.2, 0.3], reference=[3, 2, 1])
        >>> out["kendall_tau"], out["reference_kendall_tau"], out["vs_reference_kendall_tau"]
        (1.0, -1.0, -1.0)
    """
    corr = rank_correlation(scores, accuracy)
    out = {"kendall_tau": corr["kendall_tau"], "spearman": corr["spearman"]}
    if reference is not None:
        out["reference_kendall_tau"] = rank_correlation(reference, accuracy)["kendall_tau"]
        out["vs_reference_kendall_tau"] = rank_correlation(scores, reference)["kendall_tau"]
    return out
