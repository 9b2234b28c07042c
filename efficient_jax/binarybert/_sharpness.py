"""Loss-landscape sharpness: the top Hessian eigenvalue by power iteration on Hessian-vector
products (forward-over-reverse, ``jax.jvp`` of ``jax.grad``), and 1-D loss perturbation curves.

BinaryBERT (§5.1) motivates TWS with the landscape of a binary model being higher and steeper
than a ternary or float one: ``ℓ(ŵ) − ℓ(w) ≈ εᵀHε <= λ_max‖ε‖²`` (Eq. 5.4), with ``λ_max``
estimated per weight group by the power method (Fig. 5.3).

``loss_fn`` must be forward-differentiable: a ``custom_vjp`` quantizer inside it cannot be
``jvp``-ed, so evaluate quantized models at their quantized weights (the STE gradient is the
gradient with respect to ``ŵ``, so this is the Hessian the STE sees) with float activations.

Example:
    >>> import jax.numpy as jnp
    >>> a = jnp.diag(jnp.array([3.0, 1.0, 0.5]))
    >>> lam, _ = top_hessian_eigenvalue(lambda w: 0.5 * w @ a @ w, jnp.ones(3), num_iters=50)
    >>> round(float(lam), 4)
    3.0

References:
  Bai (2021), §5.1, Eq. 5.4, Figs. 5.2-5.3; Yao et al., "PyHessian", 2020 (power iteration).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from efficient_jax.core import path_strings
from efficient_jax.types import PyTree

#: The weight groups of a tiny BERT whose sharpness Fig. 5.3 compares (regex on parameter paths).
SHARPNESS_GROUPS = {
    "MHA-QK": r"attention/(query|key)/kernel$",
    "MHA-V": r"attention/value/kernel$",
    "MHA-O": r"attention/output/kernel$",
    "FFN-Mid": r"intermediate/kernel$",
    "FFN-Out": r"layer_\d+/output/kernel$",
}


def hvp(loss_fn: Callable[[PyTree], jax.Array], params: PyTree, v: PyTree) -> PyTree:
    """Hessian-vector product ``H(params)·v`` as ``jvp(grad(loss_fn))`` (forward-over-reverse)."""
    return jax.jvp(jax.grad(loss_fn), (params,), (v,))[1]


def _normalize(v: PyTree) -> PyTree:
    norm = optax.tree.norm(v)
    return jax.tree.map(lambda x: x / jnp.maximum(norm, 1e-30), v)


def top_hessian_eigenvalue(
    loss_fn: Callable[[PyTree], jax.Array],
    params: PyTree,
    *,
    num_iters: int = 20,
    key: jax.Array | None = None,
) -> tuple[jax.Array, PyTree]:
    """The Hessian eigenvalue of largest magnitude of ``loss_fn`` at ``params`` (power method).

    Args:
      loss_fn: scalar loss of a pytree (forward- and reverse-differentiable).
      params: where the Hessian is taken.
      num_iters: power iterations (jitted as one ``lax.fori_loop``).
      key: random start vector (default ``key(0)``).

    Returns:
      ``(λ, v)``: the Rayleigh quotient ``vᵀHv`` of the final unit vector, and ``v``.

    Raises:
      ValueError: ``num_iters < 1`` or ``params`` without array leaves.
    """
    if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f"num_iters must be a positive integer; got {num_iters!r}.")
    leaves, treedef = jax.tree.flatten(params)
    if not leaves:
        raise ValueError("params has no array leaves.")
    keys = jax.random.split(key if key is not None else jax.random.key(0), len(leaves))
    v0 = jax.tree.unflatten(
        treedef,
        [jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)],
    )

    @jax.jit
    def run(params, v):
        body = lambda _, v: _normalize(hvp(loss_fn, params, v))
        v = jax.lax.fori_loop(0, num_iters, body, _normalize(v))
        hv = hvp(loss_fn, params, v)
        lam = sum(jnp.vdot(a, b) for a, b in zip(jax.tree.leaves(v), jax.tree.leaves(hv)))
        return lam, v

    return run(params, v0)


def perturbation_curve(
    loss_fn: Callable[[PyTree], jax.Array],
    params: PyTree,
    scales: Sequence[float],
    direction: PyTree | None = None,
) -> list[float]:
    """``loss_fn(params + x · mean|params| · d)`` for each ``x`` in ``scales`` (Fig. 5.2).

    ``d`` defaults to all-ones, as in the thesis (perturbing along the all-ones direction with
    magnitudes relative to the mean absolute weight of each leaf).
    """
    d = jax.tree.map(jnp.ones_like, params) if direction is None else direction
    f = jax.jit(loss_fn)
    out = []
    for x in scales:
        moved = jax.tree.map(lambda p, u, x=x: p + x * jnp.mean(jnp.abs(p)) * u, params, d)
        out.append(float(f(moved)))
    return out


def group_params(params: PyTree, names: Sequence[str]) -> tuple[dict[str, Any], Callable]:
    """``(group, put)``: the leaves at ``/``-joined ``names`` and a function writing them back.

    Example:
        >>> g, put = group_params({"a": {"kernel": 1.0}, "b": 2.0}, ["a/kernel"])
        >>> g, put({"a/kernel": 5.0})
        ({'a/kernel': 1.0}, {'a': {'kernel': 5.0}, 'b': 2.0})
    """

    def get(tree, path):
        for k in path.split("/"):
            if not isinstance(tree, dict) or k not in tree:
                raise ValueError(f"No parameter at {path!r}.")
            tree = tree[k]
        return tree

    def set_(tree, keys, value):
        out = dict(tree)
        out[keys[0]] = value if len(keys) == 1 else set_(tree[keys[0]], keys[1:], value)
        return out

    group = {n: get(params, n) for n in names}

    def put(values: dict[str, Any]) -> PyTree:
        tree = params
        for n, val in values.items():
            tree = set_(tree, n.split("/"), val)
        return tree

    return group, put


def group_sharpness(
    loss_fn: Callable[[PyTree], jax.Array],
    params: PyTree,
    groups: Mapping[str, str] | None = None,
    *,
    num_iters: int = 20,
    key: jax.Array | None = None,
) -> dict[str, float]:
    """λ_max of ``loss_fn`` with respect to each group of weights, the others fixed (Fig. 5.3).

    Args:
      loss_fn: scalar loss of the whole params tree (forward- and reverse-differentiable).
      params: where the Hessians are taken.
      groups: group name -> regex on ``/``-joined parameter paths (default
        :data:`SHARPNESS_GROUPS`).
      num_iters, key: as :func:`top_hessian_eigenvalue` (the same key for every group).

    Returns:
      ``{group: λ_max}``.

    Raises:
      ValueError: a group's regex matches no parameter; as :func:`top_hessian_eigenvalue`.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"a": {"kernel": jnp.ones(2)}, "b": {"kernel": jnp.ones(2)}}
        >>> loss = lambda p: 2.0 * jnp.sum(p["a"]["kernel"] ** 2) + jnp.sum(p["b"]["kernel"] ** 2)
        >>> out = group_sharpness(loss, params, {"a": "^a/", "b": "^b/"}, num_iters=5)
        >>> {k: round(v, 4) for k, v in out.items()}
        {'a': 4.0, 'b': 2.0}
    """
    groups = SHARPNESS_GROUPS if groups is None else groups
    paths = path_strings(params)
    out = {}
    for g, rx in groups.items():
        names = sorted(n for n in paths if re.search(rx, n))
        if not names:
            raise ValueError(f"Sharpness group {g!r} ({rx!r}) matches no parameter.")
        group, put = group_params(params, names)
        lam, _ = top_hessian_eigenvalue(
            lambda u, put=put: loss_fn(put(u)), group, num_iters=num_iters, key=key
        )
        out[g] = float(lam)
    return out
