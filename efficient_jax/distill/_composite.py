"""The composite distillation objective: logits KD + hard labels + hidden states + attention.

``loss = logits_weight·[α·KD(z_S, z_T; τ) + (1 − α)·CE(z_S, y)]
+ hidden_weight·hidden_mse + attention_weight·attention_mse``.

With the defaults (``logits_weight=1, alpha=1``) it is pure logits distillation, the
prediction-layer stage of TernaryBERT/BinaryBERT (Bai 2021, Eq. 5.11). Their
intermediate-layer stage (Eq. 5.10) is ``logits_weight=0, hidden_weight=1, attention_weight=1``;
:func:`~efficient_jax.distill.two_stage_config` returns both settings. A term whose weight is 0
is not computed, so its inputs may be missing.

Model outputs are mappings ``{"logits", "hidden_states"?, "attentions"?}`` (the TinyBert aux
dict plus the logits); a bare array means logits only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.typing import ArrayLike

from efficient_jax.distill._features import Regressor, attention_mse, hidden_mse
from efficient_jax.distill._kd import check_temperature, kl_divergence, soft_cross_entropy

Outputs = Mapping[str, Any] | ArrayLike
LOGITS_LOSSES = ("soft_cross_entropy", "kl")


def as_outputs(out: Outputs) -> Mapping[str, Any]:
    """Normalises model outputs to a mapping with at least ``"logits"``."""
    if isinstance(out, Mapping):
        if "logits" not in out:
            raise ValueError(f"Model outputs need a 'logits' entry; got keys {sorted(out)}.")
        return out
    return {"logits": jnp.asarray(out)}


def _need(out: Mapping[str, Any], key: str, who: str, term: str) -> Sequence[Any]:
    if key not in out:
        raise ValueError(
            f"The {term} term needs {who}[{key!r}] (e.g. TinyBert with return_aux=True); got "
            f"keys {sorted(out)}. Set its weight to 0 for models that only return logits."
        )
    return out[key]


def check_weights(**weights: float) -> None:
    """Raises ``ValueError`` for a concrete weight that is negative or not finite."""
    for name, w in weights.items():
        if not (float(w) >= 0.0 and float(w) < float("inf")):
            raise ValueError(f"{name} must be a finite number >= 0; got {w!r}.")


def distillation_loss(
    student_out: Outputs,
    teacher_out: Outputs,
    labels: ArrayLike | None = None,
    *,
    alpha: float = 1.0,
    temperature: float = 1.0,
    logits_weight: float = 1.0,
    hidden_weight: float = 0.0,
    attention_weight: float = 0.0,
    scale_by_t2: bool = True,
    logits_loss: str = "soft_cross_entropy",
    hidden_layer_map: Sequence[int] | None = None,
    attention_layer_map: Sequence[int] | None = None,
    attention_kind: str = "probs",
    attention_mask: ArrayLike | None = None,
    projections: Sequence[Regressor | None] | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Weighted sum of the distillation terms; returns ``(loss, aux)``.

    Args:
      student_out: student outputs (mapping with ``"logits"`` and, for the feature terms,
        ``"hidden_states"``/``"attentions"``; or the logits array).
      teacher_out: teacher outputs of the same form (``stop_gradient`` is applied).
      labels: integer labels (N,); needed only when ``logits_weight·(1 − alpha) > 0``.
      alpha: share of the soft (teacher) term in the logits term, in [0, 1].
      temperature: KD temperature τ > 0.
      logits_weight, hidden_weight, attention_weight: term weights ≥ 0 (static Python numbers).
      scale_by_t2: multiply the KD term by τ².
      logits_loss: ``"soft_cross_entropy"`` (thesis Eq. 2.12) or ``"kl"`` (same gradient).
      hidden_layer_map, attention_layer_map: student → teacher index maps (see
        :func:`~efficient_jax.distill.uniform_layer_map`).
      attention_kind: ``"probs"`` or ``"scores"`` (see :func:`attention_mse`).
      attention_mask: (N, L) padding mask for the attention term.
      projections: per-student-hidden-state regressors for width mismatches.

    Returns:
      ``(loss, aux)``; ``aux`` holds ``"loss"`` and each active term unweighted (``"kd"``,
      ``"ce"``, ``"hidden"``, ``"attention"``).

    Raises:
      ValueError: for a bad weight, temperature or ``logits_loss``, missing labels or outputs,
        and shape mismatches.

    Example:
        >>> import jax.numpy as jnp
        >>> s, t = jnp.array([[2.0, 0.0]]), jnp.array([[2.0, 0.0]])
        >>> loss, aux = distillation_loss(s, t, jnp.array([0]), alpha=0.5, logits_loss="kl")
        >>> sorted(aux), round(float(loss), 4)  # 0.5·0 + 0.5·CE
        (['ce', 'kd', 'loss'], 0.0635)

    References:
      Hinton et al. 2015, https://arxiv.org/abs/1503.02531; Zhang et al., "TernaryBERT", 2020,
      https://arxiv.org/abs/2009.12812; Bai (2021), Eqs. 2.12, 5.10, 5.11.
    """
    check_weights(
        logits_weight=logits_weight, hidden_weight=hidden_weight, attention_weight=attention_weight
    )
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}.")
    if logits_loss not in LOGITS_LOSSES:
        raise ValueError(f"logits_loss must be one of {LOGITS_LOSSES}; got {logits_loss!r}.")
    check_temperature(temperature)
    s_out, t_out = as_outputs(student_out), as_outputs(teacher_out)
    t_out = jax.tree.map(jax.lax.stop_gradient, dict(t_out))
    aux: dict[str, jax.Array] = {}
    loss = jnp.zeros((), jnp.float32)

    kd_weight, ce_weight = logits_weight * alpha, logits_weight * (1.0 - alpha)
    if kd_weight > 0:
        kd_fn = soft_cross_entropy if logits_loss == "soft_cross_entropy" else kl_divergence
        aux["kd"] = kd_fn(s_out["logits"], t_out["logits"], temperature, scale_by_t2=scale_by_t2)
        loss = loss + kd_weight * aux["kd"]
    if ce_weight > 0:
        if labels is None:
            raise ValueError(
                f"labels are required for the hard-label term (logits_weight·(1 − alpha) = "
                f"{ce_weight}); pass labels or set alpha=1."
            )
        logits, labels = jnp.asarray(s_out["logits"]), jnp.asarray(labels)
        if labels.shape != logits.shape[:-1]:
            raise ValueError(
                f"labels have shape {labels.shape} but the logits {logits.shape} need "
                f"{logits.shape[:-1]}."
            )
        aux["ce"] = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
        loss = loss + ce_weight * aux["ce"]
    if hidden_weight > 0:
        aux["hidden"] = hidden_mse(
            _need(s_out, "hidden_states", "student_out", "hidden"),
            _need(t_out, "hidden_states", "teacher_out", "hidden"),
            layer_map=hidden_layer_map,
            projections=projections,
        )
        loss = loss + hidden_weight * aux["hidden"]
    if attention_weight > 0:
        aux["attention"] = attention_mse(
            _need(s_out, "attentions", "student_out", "attention"),
            _need(t_out, "attentions", "teacher_out", "attention"),
            layer_map=attention_layer_map,
            mask=attention_mask,
            kind=attention_kind,
        )
        loss = loss + attention_weight * aux["attention"]
    if not aux:
        raise ValueError("All distillation weights are 0; at least one term must be active.")
    aux["loss"] = loss
    return loss, aux
