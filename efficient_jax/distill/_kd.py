"""Logits distillation: soft cross-entropy (Hinton et al. 2015) and its KL-divergence form.

Bai (2021), Eq. 2.12, in the standard direction (the thesis prints student and teacher swapped;
errata 3 of the spec): ``ℓ_sce = −Σ_i softmax(z_i^T/τ)·log softmax(z_i^S/τ)``. Both losses stop
the gradient into the teacher logits, sum over the class (last) axis and average over all leading
axes (batch, and sequence positions for token-level logits).

The two losses differ by the teacher entropy ``H(p_T)``, a constant for the student, so they have
the same gradient; the KL form is zero, and minimal, when the student logits equal the teacher's.

Example:
    >>> import jax.numpy as jnp
    >>> teacher = jnp.array([[2.0, 0.0, -1.0]])
    >>> float(kl_divergence(teacher, teacher, temperature=2.0))
    0.0
    >>> round(float(soft_cross_entropy(jnp.zeros((1, 3)), teacher, scale_by_t2=False)), 4)
    1.0986
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def check_temperature(temperature: float | ArrayLike) -> None:
    """Raises ``ValueError`` if a concrete ``temperature`` is not a finite number > 0.

    A traced temperature (inside ``jit``) cannot be checked and is accepted as is.
    """
    try:
        value = float(temperature)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"temperature must be a finite number > 0; got {temperature!r}.")


def _check_logits(student_logits: jax.Array, teacher_logits: jax.Array) -> None:
    if student_logits.ndim < 1 or student_logits.shape != teacher_logits.shape:
        raise ValueError(
            "Student and teacher logits must have the same shape (..., num_classes); got "
            f"student {student_logits.shape} and teacher {teacher_logits.shape}."
        )


def _log_probs(
    student_logits: ArrayLike, teacher_logits: ArrayLike, temperature: float | ArrayLike
) -> tuple[jax.Array, jax.Array]:
    check_temperature(temperature)
    s = jnp.asarray(student_logits)
    t = jax.lax.stop_gradient(jnp.asarray(teacher_logits))
    _check_logits(s, t)
    dtype = jnp.result_type(s.dtype, t.dtype, jnp.float32)
    tau = jnp.asarray(temperature, dtype)
    return jax.nn.log_softmax(s.astype(dtype) / tau), jax.nn.log_softmax(t.astype(dtype) / tau)


def soft_cross_entropy(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    temperature: float | ArrayLike = 1.0,
    *,
    scale_by_t2: bool = True,
) -> jax.Array:
    """Soft-target cross-entropy ``−Σ softmax(z_T/τ)·log softmax(z_S/τ)``, mean over examples.

    Args:
      student_logits: (..., num_classes) student logits; the gradient flows into them.
      teacher_logits: the teacher's logits, same shape; wrapped in ``stop_gradient``.
      temperature: τ > 0; both logits are divided by it before the softmax.
      scale_by_t2: multiply by τ² (Hinton's convention) so that the gradient magnitude does not
        shrink as 1/τ² when τ grows, keeping the loss weight comparable across temperatures.

    Returns:
      A scalar: the per-example soft cross-entropy averaged over all leading axes.

    Raises:
      ValueError: if the shapes differ or a concrete ``temperature`` is not > 0.

    Example:
        >>> import jax.numpy as jnp
        >>> s, t = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
        >>> round(float(soft_cross_entropy(s, t, temperature=2.0)), 4)  # 2² · 0.7853
        3.1412

    References:
      Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", NIPS DL Workshop
      2015, https://arxiv.org/abs/1503.02531; Bai (2021), Eq. 2.12 (errata 3: standard form).
    """
    log_q, log_p = _log_probs(student_logits, teacher_logits, temperature)
    loss = jnp.mean(-jnp.sum(jnp.exp(log_p) * log_q, axis=-1))
    return loss * jnp.square(jnp.asarray(temperature, loss.dtype)) if scale_by_t2 else loss


def kl_divergence(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    temperature: float | ArrayLike = 1.0,
    *,
    scale_by_t2: bool = True,
) -> jax.Array:
    """``KL(softmax(z_T/τ) ‖ softmax(z_S/τ))``, mean over examples (optionally ×τ²).

    Equal to :func:`soft_cross_entropy` minus the teacher entropy, so it has the same gradient
    but is exactly 0 when the student matches the teacher. Arguments as in
    :func:`soft_cross_entropy`.

    Raises:
      ValueError: if the shapes differ or a concrete ``temperature`` is not > 0.

    Example:
        >>> import jax.numpy as jnp
        >>> s, t = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
        >>> round(float(kl_divergence(s, t, scale_by_t2=False)), 4)
        0.4621

    References:
      Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015,
      https://arxiv.org/abs/1503.02531.
    """
    log_q, log_p = _log_probs(student_logits, teacher_logits, temperature)
    loss = jnp.mean(jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1))
    return loss * jnp.square(jnp.asarray(temperature, loss.dtype)) if scale_by_t2 else loss
