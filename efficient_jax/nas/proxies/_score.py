"""The proxy registry and :func:`score_cells`: many architectures, one compilation.

A masked supernet takes the architecture as an *input* (the NB201 supernet's (6, 5) one-hot mask),
so ``jax.jit(jax.vmap(proxy over masks))`` compiles once and scores every cell of the space chunk
by chunk; the last chunk is padded so it does not trigger a second compilation.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from efficient_jax.core import Registry
from efficient_jax.nas.proxies import _activation, _gradient, _wpca
from efficient_jax.types import Batch, Params

PROXIES = Registry("zero-cost proxy")
for _name, _fn in (
    ("synflow", _gradient.synflow),
    ("snip", _gradient.snip),
    ("grasp", _gradient.grasp),
    ("fisher", _gradient.fisher),
    ("grad_norm", _gradient.grad_norm),
    ("l2_norm", _gradient.l2_norm),
    ("plain", _gradient.plain),
    ("jacov", _activation.jacov),
    ("nwot", _activation.nwot),
    ("ntk_cond", _activation.ntk_cond),
    ("gradsign", _activation.gradsign),
    ("wpca", _wpca.wpca),
):
    PROXIES.register(_name)(_fn)

# apply_fn(params, x, train, mask) -> logits
MaskedApplyFn = Callable[[Params, jax.Array, bool, jax.Array], jax.Array]


def get_proxy(name: str, **kwargs: Any) -> Callable[..., jax.Array]:
    """The proxy ``name`` with keyword options bound (``nwot``'s ``relu_inputs``, ...).

    Raises:
      ValueError: for an unknown name (lists the registered ones).

    Example:
        >>> get_proxy("synflow").__name__
        'synflow'
    """
    fn = PROXIES.get(name)
    return functools.wraps(fn)(functools.partial(fn, **kwargs)) if kwargs else fn


def supernet_apply_fn(model, batch_stats: Any | None = None) -> MaskedApplyFn:
    """``(params, x, train, mask) -> logits`` for a Linen supernet called as ``(x, mask, train)``.

    In training mode BatchNorm uses batch statistics (the updated running statistics are
    discarded); otherwise it uses ``batch_stats``.
    """

    def apply_fn(params, x, train, mask):
        variables = {"params": params}
        if batch_stats is not None:
            variables["batch_stats"] = batch_stats
        if train and batch_stats is not None:
            out, _ = model.apply(variables, x, mask, train=True, mutable=["batch_stats"])
            return out
        return model.apply(variables, x, mask, train=False)

    return apply_fn


def score_cells(
    proxy: str | Callable[..., jax.Array],
    apply_fn: MaskedApplyFn,
    params: Params,
    batch: Batch,
    masks: jax.Array | np.ndarray,
    *,
    chunk_size: int = 8,
    mode: str = "vmap",
    progress: bool = True,
    proxy_kwargs: dict[str, Any] | None = None,
    stats_out: dict[str, float] | None = None,
) -> np.ndarray:
    """Scores every architecture mask with one compiled ``vmap`` of the proxy.

    Args:
      proxy: a registered name (see ``PROXIES``) or a callable ``(apply_fn, params, batch)``.
      apply_fn: ``(params, x, train, mask) -> logits`` (see :func:`supernet_apply_fn`).
      params: shared supernet parameters (one random initialisation for all cells).
      batch: ``{"image", "label"}``.
      masks: ``(n, ...)`` stacked architecture masks.
      chunk_size: masks per compiled call (memory grows linearly with it under ``vmap``).
      mode: ``"vmap"`` (batched over masks: every op of a mixed supernet runs for every mask) or
        ``"map"`` (``lax.map``: a loop over masks inside the compiled call, so a supernet whose
        edges dispatch with ``lax.switch`` runs only the selected ops). Both compile once.
      progress: show a tqdm bar.
      proxy_kwargs: options bound to a named proxy.
      stats_out: if a dict, receives ``compile_s``, ``total_s`` and ``per_arch_s`` (excluding the
        first, compiling chunk).

    Returns:
      ``(n,)`` float64 scores, in the order of ``masks``.

    Raises:
      ValueError: unknown proxy name or mode, empty masks or a non-positive chunk size.
    """
    if mode not in ("vmap", "map"):
        raise ValueError(f"score_cells mode must be 'vmap' or 'map', got {mode!r}.")
    fn = get_proxy(proxy, **(proxy_kwargs or {})) if isinstance(proxy, str) else proxy
    masks = np.asarray(masks)
    if masks.ndim < 1 or masks.shape[0] == 0:
        raise ValueError(f"score_cells needs at least one mask, got shape {masks.shape}.")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    n = masks.shape[0]
    chunk = min(int(chunk_size), n)

    def one(m):
        return fn(lambda p, x, t: apply_fn(p, x, t, m), params, batch)

    run = jax.jit(jax.vmap(one) if mode == "vmap" else (lambda ms: jax.lax.map(one, ms)))

    out = np.empty(n, np.float64)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=getattr(fn, "__name__", "proxy"), unit="arch")
    t0 = time.perf_counter()
    t_first = None
    for start in range(0, n, chunk):
        ms = masks[start : start + chunk]
        k = ms.shape[0]
        if k < chunk:
            ms = np.concatenate([ms, np.repeat(ms[-1:], chunk - k, axis=0)])
        vals = np.asarray(jax.device_get(run(jnp.asarray(ms))), np.float64)
        out[start : start + k] = vals[:k]
        if t_first is None:
            t_first = time.perf_counter() - t0
        if bar is not None:
            bar.update(k)
    total = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if stats_out is not None:
        rest = n - chunk
        stats_out.update(
            compile_s=float(t_first),
            total_s=float(total),
            per_arch_s=float((total - t_first) / rest) if rest > 0 else float(t_first / n),
        )
    return out


def rank_correlation(scores: Sequence[float], accuracy: Sequence[float]) -> dict[str, float]:
    """Kendall τ and Spearman ρ over the pairs where neither value is NaN (±inf rank as extremes:
    synflow gives ``-inf`` to a cell whose output does not depend on its weights).

    Example:
        >>> rank_correlation([1, 2, 3, float("nan")], [0.1, 0.3, 0.2, 0.5])["kendall_tau"]
        0.333...
    """
    s, a = np.asarray(scores, np.float64), np.asarray(accuracy, np.float64)
    if s.shape != a.shape:
        raise ValueError(f"scores {s.shape} and accuracy {a.shape} must have the same shape.")
    ok = ~np.isnan(s) & ~np.isnan(a)
    if ok.sum() < 3:
        return {"kendall_tau": float("nan"), "spearman": float("nan"), "n": int(ok.sum())}
    return {
        "kendall_tau": float(stats.kendalltau(s[ok], a[ok])[0]),
        "spearman": float(stats.spearmanr(s[ok], a[ok])[0]),
        "n": int(ok.sum()),
    }
