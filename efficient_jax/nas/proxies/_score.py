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


def available_proxies() -> list[str]:
    """The names :func:`get_proxy` accepts, in registration order.

    Example:
        >>> available_proxies()[:3]
        ['synflow', 'snip', 'grasp']
    """
    return PROXIES.names()


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


def _as_list(proxy) -> list:
    return [proxy] if isinstance(proxy, str) or callable(proxy) else list(proxy)


def make_scorer(
    proxy: str | Callable[..., jax.Array] | Sequence[str | Callable[..., jax.Array]],
    apply_fn: MaskedApplyFn,
    *,
    mode: str = "vmap",
    proxy_kwargs: dict[str, dict[str, Any]] | None = None,
    params_fn: Callable[[Params, jax.Array], Params] | None = None,
) -> Callable[[Params, Batch, jax.Array, jax.Array], tuple[jax.Array, ...]]:
    """One jitted ``(params, batch, masks, indices) -> (scores per proxy)`` over a stack of masks.

    Parameters and batch are arguments (not constants baked into the program), so the compiled
    function is reused for every chunk. Several proxies in one call share their common work
    (XLA merges the identical forward/backward passes of e.g. ``snip``, ``plain``, ``grad_norm``).

    Args:
      proxy: a registered name, a callable ``(apply_fn, params, batch)``, or a sequence of them.
      apply_fn: ``(params, x, train, mask) -> logits``.
      mode: ``"vmap"`` (batched over masks) or ``"map"`` (``lax.map``, a loop inside the program).
      proxy_kwargs: ``{name: options}`` bound to named proxies.
      params_fn: optional ``(params, index) -> params`` applied per mask inside the compiled
        function, with the mask's (traced, integer) index among all masks: e.g. a fresh random
        initialisation per architecture, as NASLib scores them.

    Raises:
      ValueError: unknown proxy name or mode, or an empty proxy sequence.
    """
    if mode not in ("vmap", "map"):
        raise ValueError(f"score_cells mode must be 'vmap' or 'map', got {mode!r}.")
    many = _as_list(proxy)
    if not many:
        raise ValueError("score_cells needs at least one proxy.")
    kw = proxy_kwargs or {}
    fns = [get_proxy(p, **kw.get(p, {})) if isinstance(p, str) else p for p in many]

    def one(params, batch, m, i):
        p = params if params_fn is None else params_fn(params, i)
        return tuple(fn(lambda p, x, t: apply_fn(p, x, t, m), p, batch) for fn in fns)

    if mode == "vmap":
        return jax.jit(jax.vmap(one, in_axes=(None, None, 0, 0)))
    return jax.jit(
        lambda params, batch, ms, idx: jax.lax.map(lambda a: one(params, batch, *a), (ms, idx))
    )


def score_cells(
    proxy: str | Callable[..., jax.Array] | Sequence[str | Callable[..., jax.Array]],
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
    resume: tuple[int, Any] | None = None,
    on_chunk: Callable[[int, Any], None] | None = None,
    params_fn: Callable[[Params, jax.Array], Params] | None = None,
) -> np.ndarray | dict[str, np.ndarray]:
    """Scores every architecture mask with one compiled ``vmap`` of the proxy (or proxies).

    Args:
      proxy: a registered name (see ``PROXIES``), a callable ``(apply_fn, params, batch)``, or a
        sequence of names/callables scored together in one compiled pass.
      apply_fn: ``(params, x, train, mask) -> logits`` (see :func:`supernet_apply_fn`).
      params: shared supernet parameters (one random initialisation for all cells).
      batch: ``{"image", "label"}``.
      masks: ``(n, ...)`` stacked architecture masks.
      chunk_size: masks per compiled call (memory grows linearly with it under ``vmap``).
      mode: ``"vmap"`` (batched over masks: every op of a mixed supernet runs for every mask) or
        ``"map"`` (``lax.map``: a loop over masks inside the compiled call, so a supernet whose
        edges dispatch with ``lax.switch`` runs only the selected ops). Both compile once.
      progress: show a tqdm bar.
      proxy_kwargs: options bound to a named proxy; with several proxies, ``{name: options}``.
      stats_out: if a dict, receives ``compile_s``, ``total_s`` and ``per_arch_s`` (excluding the
        first, compiling chunk).
      resume: ``(done, scores)`` from an earlier, interrupted call on the same masks: the first
        ``done`` masks are not scored again (``scores`` as this function returns them).
      on_chunk: called as ``on_chunk(done, scores)`` after every chunk (e.g. to checkpoint).
      params_fn: ``(params, index) -> params`` per mask (see :func:`make_scorer`), e.g.
        ``lambda p, i: torch_default_init(p, jax.random.fold_in(key, i))`` for an independent
        initialisation per architecture; ``index`` is the mask's position in ``masks``.

    Returns:
      ``(n,)`` float64 scores in the order of ``masks``; for a sequence of proxies, a dict of them
      keyed by proxy name (``__name__`` for callables).

    Raises:
      ValueError: unknown proxy name or mode, empty masks, a non-positive chunk size or a
        ``resume`` that does not fit ``masks``.

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> class Masked(nn.Module):
        ...     @nn.compact
        ...     def __call__(self, x, m):
        ...         return nn.Dense(2)(m[0] * nn.Dense(4)(x) + m[1] * nn.Dense(4)(x))
        >>> x = jnp.ones((2, 3))
        >>> p = Masked().init(jax.random.key(0), x, jnp.ones(2))["params"]
        >>> apply_fn = lambda p, x, t, m: Masked().apply({"params": p}, x, m)
        >>> s = score_cells(["snip", "synflow"], apply_fn, p, {"image": x, "label": jnp.zeros(2,
        ...     jnp.int32)}, jnp.eye(2), progress=False)
        >>> sorted(s), s["snip"].shape
        (['snip', 'synflow'], (2,))
    """
    single = isinstance(proxy, str) or callable(proxy)
    many = _as_list(proxy)
    if single and proxy_kwargs and isinstance(proxy, str):
        proxy_kwargs = {proxy: proxy_kwargs}
    run = make_scorer(many, apply_fn, mode=mode, proxy_kwargs=proxy_kwargs, params_fn=params_fn)
    names = [
        p if isinstance(p, str) else getattr(p, "__name__", f"proxy{i}") for i, p in enumerate(many)
    ]
    masks = np.asarray(masks)
    if masks.ndim < 1 or masks.shape[0] == 0:
        raise ValueError(f"score_cells needs at least one mask, got shape {masks.shape}.")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    n = masks.shape[0]
    chunk = min(int(chunk_size), n)
    out = {k: np.full(n, np.nan, np.float64) for k in names}
    done = 0
    if resume is not None:
        done, prev = int(resume[0]), resume[1]
        prev = {names[0]: prev} if single else prev
        if not 0 <= done <= n or any(np.shape(prev.get(k, ())) != (n,) for k in names):
            raise ValueError(
                f"resume=({done}, ...) does not fit {n} masks and proxies {names}: scores must "
                f"have shape ({n},) per proxy and 0 <= done <= {n}."
            )
        for k in names:
            out[k][:done] = np.asarray(prev[k], np.float64)[:done]

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, initial=done, desc="+".join(names), unit="arch")
    t0 = time.perf_counter()
    t_first = None
    for start in range(done, n, chunk):
        ms = masks[start : start + chunk]
        k = ms.shape[0]
        if k < chunk:
            ms = np.concatenate([ms, np.repeat(ms[-1:], chunk - k, axis=0)])
        idx = np.minimum(np.arange(start, start + chunk), n - 1).astype(np.int32)
        vals = jax.device_get(run(params, batch, jnp.asarray(ms), jnp.asarray(idx)))
        for name, v in zip(names, vals):
            out[name][start : start + k] = np.asarray(v, np.float64)[:k]
        if t_first is None:
            t_first = time.perf_counter() - t0
        if bar is not None:
            bar.update(k)
        if on_chunk is not None:
            on_chunk(start + k, out[names[0]] if single else out)
    total = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if stats_out is not None:
        t_first = total if t_first is None else t_first
        rest = n - done - chunk
        stats_out.update(
            compile_s=float(t_first),
            total_s=float(total),
            per_arch_s=float((total - t_first) / rest) if rest > 0 else float(t_first / chunk),
        )
    return out[names[0]] if single else out


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
