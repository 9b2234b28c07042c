"""The layer losses of (soft) cross distillation (Bai 2021, Eqs. 3.1–3.4 and 3.14–3.15).

``f(w, h)`` is one layer's linear map; ``h^T``/``h^S`` its inputs in the teacher and the student;
``w^T`` fixed, ``w^S`` trained. MSEs are means over the output (n·c_o·h·w, public code [ext]).

* estimation ("w/o CD", Eq. 3.1): ``L^e = ‖f(w^T, h^T) − f(w^S, h^S)‖²``
* correction (Eq. 3.2):          ``L^c = ‖f(w^T, h^T) − f(w^S, h^T)‖²``
* imitation (Eq. 3.3):           ``L^i = ‖f(w^T, h^S) − f(w^S, h^S)‖²``
* cross distillation (Eq. 3.4):  ``L̃ = μ L^c + (1 − μ) L^i`` (μ = 1: pure correction; errata 4)
* soft CD (Eqs. 3.14–3.15): ``ĥ^T = α h^T + (1−α) h^S``, ``ĥ^S = (1−β) h^T + β h^S``,
  ``L̂ = ‖σ(f(w^T, ĥ^T)) − σ(f(w^S, ĥ^S))‖²``; (1, 1) → ``L^e`` (with σ), (1, 0) → ``L^c``,
  (0, 1) → ``L^i``.

Example:
    >>> import jax.numpy as jnp
    >>> f = lambda w, h: h @ w
    >>> h_t, h_s = jnp.ones((4, 3)), jnp.zeros((4, 3))
    >>> w = jnp.eye(3)
    >>> float(cross_distillation_loss(f, w, 2 * w, h_t, h_s, mu=1.0))
    1.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

LayerFn = Callable[[Any, jax.Array], jax.Array]


def _mse(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(a - b))


def estimation_loss(f: LayerFn, w_s, w_t, h_t, h_s) -> jax.Array:
    """``L^e`` (Eq. 3.1): plain layer-wise distillation, each net on its own input."""
    return _mse(jax.lax.stop_gradient(f(w_t, h_t)), f(w_s, h_s))


def correction_loss(f: LayerFn, w_s, w_t, h_t, h_s) -> jax.Array:
    """``L^c`` (Eq. 3.2): the student layer reads the teacher's input."""
    del h_s
    return _mse(jax.lax.stop_gradient(f(w_t, h_t)), f(w_s, h_t))


def imitation_loss(f: LayerFn, w_s, w_t, h_t, h_s) -> jax.Array:
    """``L^i`` (Eq. 3.3): the teacher layer reads the student's input."""
    del h_t
    return _mse(jax.lax.stop_gradient(f(w_t, h_s)), f(w_s, h_s))


def _check_unit(name: str, value: Any) -> None:
    if not isinstance(value, jax.core.Tracer) and not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {value}.")


def cross_distillation_loss(f: LayerFn, w_s, w_t, h_t, h_s, *, mu: float) -> jax.Array:
    """``L̃ = μ L^c + (1 − μ) L^i`` (Eq. 3.4).

    Raises:
      ValueError: if ``mu`` is not in [0, 1].
    """
    _check_unit("mu", mu)
    return mu * correction_loss(f, w_s, w_t, h_t, h_s) + (1.0 - mu) * imitation_loss(
        f, w_s, w_t, h_t, h_s
    )


def soft_cross_distillation_loss(
    f: LayerFn,
    w_s,
    w_t,
    h_t,
    h_s,
    *,
    alpha: float,
    beta: float,
    activation: Callable[[jax.Array], jax.Array] | None = nn.relu,
) -> jax.Array:
    """``L̂ = ‖σ(f(w^T, ĥ^T)) − σ(f(w^S, ĥ^S))‖²`` with mixed inputs (Eqs. 3.14–3.15).

    Args:
      activation: σ (ReLU in the thesis; ``None`` = identity).

    Raises:
      ValueError: if ``alpha`` or ``beta`` is not in [0, 1].
    """
    _check_unit("alpha", alpha)
    _check_unit("beta", beta)
    sigma = activation or (lambda x: x)
    hat_t = alpha * h_t + (1.0 - alpha) * h_s
    hat_s = (1.0 - beta) * h_t + beta * h_s
    return _mse(jax.lax.stop_gradient(sigma(f(w_t, hat_t))), sigma(f(w_s, hat_s)))
