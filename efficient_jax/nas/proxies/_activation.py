"""Activation- and Jacobian-based proxies: jacov, nwot, the NTK condition number and GradSign.

* ``jacov`` (Mellor et al., "Neural Architecture Search without Training", ICML 2021, v1; NASLib's
  version): ``J = ∂Σf/∂x`` per image, ``C = corrcoef(J)``, score ``−Σ_i log(λ_i + k) + 1/(λ_i + k)``
  with ``k = 1e-5`` over the eigenvalues of ``C``.
* ``nwot`` (Mellor et al. 2021, v2): binary ReLU codes ``c_n`` of the batch; kernel
  ``K = Σ_relus c cᵀ + (1−c)(1−c)ᵀ`` (N − Hamming distance); score ``log|det K|``.
* ``ntk_cond`` (Chen et al., TE-NAS, ICLR 2021; Mok et al., "Demystifying the NTK for NAS",
  2022): condition number ``λ_max/λ_min`` of the empirical NTK ``Θ = J Jᵀ`` with ``J`` the
  Jacobian of each image's summed logits w.r.t. all parameters; the score is ``−cond`` (a
  well-conditioned NTK trains faster, so larger is better).
* ``gradsign`` (Zhang & Jia, "GradSign", ICLR 2022, spec 004 #5): per-sample gradients ``g_n`` of
  the loss at initialisation, score ``Ψ = Σ_k |Σ_n sign(g_n,k)|`` (how many samples agree on the
  sign of each weight's gradient), over conv/dense kernels.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from efficient_jax.core import map_with_path_str
from efficient_jax.nas.proxies._taps import ProxyApplyFn, active_layers, kernel_layer, tapped_grads
from efficient_jax.types import Batch, Params

_JACOV_K = 1e-5


def jacov(apply_fn: ProxyApplyFn, params: Params, batch: Batch) -> jax.Array:
    """−Σ log(λ+k) + 1/(λ+k) over the eigenvalues λ of the input-Jacobian correlation matrix.

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> m = nn.Sequential([nn.Dense(8), nn.relu, nn.Dense(3)])
        >>> p = m.init(jax.random.key(0), jnp.ones((1, 5)))["params"]
        >>> x = jax.random.normal(jax.random.key(1), (4, 5))
        >>> s = jacov(lambda p, x, t: m.apply({"params": p}, x), p, {"image": x, "label": None})
        >>> bool(jnp.isfinite(s))
        True
    """
    jac = tapped_grads(apply_fn, params, batch["image"], True, jnp.sum).input_grad
    jac = jac.reshape(jac.shape[0], -1)
    corr = jnp.corrcoef(jac)
    v = jnp.linalg.eigvalsh(corr)
    return -jnp.sum(jnp.log(v + _JACOV_K) + 1.0 / (v + _JACOV_K))


def relu_kernel(codes: list[jax.Array], weights: list[jax.Array] | None = None) -> jax.Array:
    """``Σ_l w_l (c_l c_lᵀ + (1−c_l)(1−c_l)ᵀ)`` for binary codes ``c_l`` of shape (N, units)."""
    n = codes[0].shape[0]
    k = jnp.zeros((n, n), jnp.float32)
    for i, c in enumerate(codes):
        c = c.reshape(n, -1).astype(jnp.float32)
        w = 1.0 if weights is None else weights[i]
        k = k + w * (c @ c.T + (1.0 - c) @ (1.0 - c).T)
    return k


def nwot(
    apply_fn: ProxyApplyFn,
    params: Params,
    batch: Batch,
    *,
    relu_inputs: str = r".*",
    relu_outputs: str | None = None,
) -> jax.Array:
    """``log|det K|`` of the ReLU-code kernel of the batch (NASWOT, Mellor et al. 2021 v2).

    Args:
      apply_fn, params, batch: as for every proxy.
      relu_inputs: regex on Conv/Dense layer names (module paths) whose *input* is a ReLU
        output; the sign pattern of that input is the ReLU's code. Default: every such layer.
      relu_outputs: regex on layer names (Conv/Dense/BatchNorm) whose *output* is fed to a ReLU
        (e.g. the final BN).

    Only layers whose output reaches the logits count, so the masked supernet gives the code
    kernel of the discrete architecture.
    """
    ins, outs, grads, _, _ = tapped_grads(apply_fn, params, batch["image"], True, jnp.sum)
    active = active_layers(grads)
    rx_in = re.compile(relu_inputs)
    rx_out = re.compile(relu_outputs) if relu_outputs else None
    codes, weights = [], []
    for name in outs:
        if name in ins and rx_in.search(name):
            codes.append(ins[name] > 0)
            weights.append(active[name])
        if rx_out is not None and rx_out.search(name):
            codes.append(outs[name] > 0)
            weights.append(active[name])
    if not codes:
        raise ValueError(
            f"nwot: no layer matches relu_inputs={relu_inputs!r} / relu_outputs={relu_outputs!r}; "
            f"layers: {sorted(outs)}."
        )
    return jnp.linalg.slogdet(relu_kernel(codes, weights))[1]


def _jacobian_rows(fn, params: Params, rows_per_pass: int) -> jax.Array:
    """``(N, P)`` Jacobian of a vector-valued ``fn(params)`` over all parameter leaves.

    One forward pass; the N backward passes run ``rows_per_pass`` at a time (``jax.jacrev``
    would hold all N backward passes' activations at once: 26 GB for the NB201 supernet).
    """
    out, vjp = jax.vjp(fn, params)
    row = lambda cotangent: ravel_pytree(vjp(cotangent)[0])[0]  # noqa: E731
    return jax.lax.map(row, jnp.eye(out.shape[0], dtype=out.dtype), batch_size=rows_per_pass)


def ntk_cond(
    apply_fn: ProxyApplyFn, params: Params, batch: Batch, *, rows_per_pass: int = 1
) -> jax.Array:
    """``−λ_max/λ_min`` of the empirical NTK of the batch (TE-NAS condition number, negated).

    Row ``n`` of the Jacobian is the gradient of image ``n``'s summed logits (BatchNorm in
    training mode, so rows depend on the whole batch, as in TE-NAS's per-image ``backward``).
    ``rows_per_pass`` backward passes are batched at a time. On CPU one at a time is fastest
    (NB201 supernet, batch 16, 2-core CPU: 67 s per cell with 1, 138 s with 16; a Python-unrolled
    loop runs in 13 s but compiles for 10 min).
    """
    if int(rows_per_pass) < 1:
        raise ValueError(f"ntk_cond: rows_per_pass must be a positive int, got {rows_per_pass!r}.")
    x = batch["image"]
    jac = _jacobian_rows(lambda p: jnp.sum(apply_fn(p, x, True), axis=-1), params, rows_per_pass)
    v = jnp.linalg.eigvalsh(jac @ jac.T)
    return -v[-1] / v[0]


def gradsign(apply_fn: ProxyApplyFn, params: Params, batch: Batch) -> jax.Array:
    """Ψ = Σ_k |Σ_n sign(∂ℓ_n/∂θ_k)| over kernels, with per-sample losses ``ℓ_n``.

    Each sample goes through the network alone (batch of one, BatchNorm in training mode), so
    its gradient does not depend on the other samples, as in the GradSign reference code.
    """

    def sample_grad(x, y):
        def loss(p):
            logits = apply_fn(p, x[None], True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y[None]).sum()

        return jax.grad(loss)(params)

    g = jax.vmap(sample_grad)(batch["image"], batch["label"])
    keep = map_with_path_str(lambda path, _: kernel_layer(path) is not None, params)
    agree = jax.tree.map(
        lambda k, gg: jnp.sum(jnp.abs(jnp.sum(jnp.sign(gg), axis=0))) if k else 0.0, keep, g
    )
    return sum(jnp.asarray(a, jnp.float32) for a in jax.tree.leaves(agree))
