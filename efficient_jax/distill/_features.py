"""Feature distillation: FitNet hints, hidden-state MSE and attention MSE (TinyBERT/TernaryBERT).

* FitNet hints (Bai 2021, Eq. 2.13): ``ℓ_ht = ½‖f_T(x) − r(f_S(x))‖²`` with a learned linear
  regressor ``r`` that maps the student width to the teacher width.
* Intermediate-layer distillation of TernaryBERT/BinaryBERT (Bai 2021, §5, Eq. 5.10; spec §4.4):
  ``ℓ_int = MSE(Ê, E) + Σ_l MSE(Ĥ_l, H_l) + Σ_l MSE(Â_l, A_l)`` over the embedding output, the
  layer outputs and the attention scores. Each MSE is a mean over the tensor's entries and the
  layer terms are summed, as ``torch.nn.MSELoss`` is summed per layer in the reference code
  (huawei-noah/Pretrained-Language-Model, ``BinaryBERT/kd_learner_glue.py``).
* MREM's module loss (Bai 2021, Eq. 4.2) is :func:`hidden_mse` over the layer outputs of one
  module, e.g. ``hidden_mse(student_hiddens[a:b], teacher_hiddens[a:b])``.

Student layers are paired with teacher layers by ``layer_map`` (student index → teacher index),
so a student with fewer layers can learn from a deeper teacher (TinyBERT's uniform mapping is
:func:`uniform_layer_map`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Regressor = Mapping[str, jax.Array]

_MASKED_SCORE = -1e2  # TinyBERT/TernaryBERT: scores <= -100 come from the padding mask.
ATTENTION_KINDS = ("probs", "scores")


def init_regressor(key: jax.Array, in_features: int, out_features: int) -> dict[str, jax.Array]:
    """A linear regressor ``r(f) = f @ kernel + bias`` (FitNet's ``r``) with LeCun-normal init.

    Example:
        >>> import jax
        >>> r = init_regressor(jax.random.key(0), 4, 8)
        >>> r["kernel"].shape, r["bias"].shape
        ((4, 8), (8,))
    """
    if in_features < 1 or out_features < 1:
        raise ValueError(
            f"Regressor sizes must be positive; got in_features={in_features}, "
            f"out_features={out_features}."
        )
    kernel = jax.random.normal(key, (in_features, out_features)) / jnp.sqrt(in_features)
    return {"kernel": kernel, "bias": jnp.zeros((out_features,))}


def apply_regressor(regressor: Regressor | None, features: ArrayLike) -> jax.Array:
    """Applies ``r`` on the last (feature/channel) axis; ``None`` is the identity.

    On NHWC convolutional features this is FitNet's 1×1-convolution regressor.

    Raises:
      ValueError: if the kernel's input size does not match the feature width.
    """
    features = jnp.asarray(features)
    if regressor is None:
        return features
    kernel, bias = regressor["kernel"], regressor["bias"]
    if (
        kernel.ndim != 2
        or features.shape[-1:] != kernel.shape[:1]
        or bias.shape != kernel.shape[1:]
    ):
        raise ValueError(
            f"Regressor kernel {kernel.shape} / bias {bias.shape} cannot map features of shape "
            f"{features.shape}: the kernel must be (feature width, out width) = "
            f"({features.shape[-1] if features.ndim else '?'}, out) and the bias (out,)."
        )
    return features @ kernel + bias


def fitnet_hint_loss(
    student_feat: ArrayLike, teacher_feat: ArrayLike, regressor_params: Regressor | None = None
) -> jax.Array:
    """FitNet hint loss ``½‖f_T − r(f_S)‖²``, summed over features and averaged over the batch.

    Args:
      student_feat: (N, ..., d_S) student hint-layer features.
      teacher_feat: (N, ..., d_T) teacher features (``stop_gradient`` is applied).
      regressor_params: ``{"kernel": (d_S, d_T), "bias": (d_T,)}`` (see :func:`init_regressor`),
        or ``None`` when the shapes already agree. The gradient flows into it.

    Returns:
      The scalar hint loss.

    Raises:
      ValueError: if ``r(f_S)`` and ``f_T`` have different shapes.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> r = {"kernel": jnp.eye(2, 3), "bias": jnp.zeros(3)}
        >>> float(fitnet_hint_loss(jnp.ones((4, 2)), jnp.array([[1.0, 1.0, 2.0]] * 4), r))
        2.0

    References:
      Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015,
      https://arxiv.org/abs/1412.6550; Bai (2021), Eq. 2.13.
    """
    pred = apply_regressor(regressor_params, student_feat)
    target = jax.lax.stop_gradient(jnp.asarray(teacher_feat))
    if pred.shape != target.shape or pred.ndim < 1:
        raise ValueError(
            f"FitNet hint: r(student) has shape {pred.shape} but the teacher feature has shape "
            f"{target.shape}; give a regressor mapping the student width to the teacher width."
        )
    per_example = 0.5 * jnp.sum(jnp.square(target - pred).reshape(pred.shape[0], -1), axis=-1)
    return jnp.mean(per_example)


def uniform_layer_map(
    num_student_layers: int, num_teacher_layers: int, *, kind: str = "hidden"
) -> tuple[int, ...]:
    """TinyBERT's uniform mapping ``g(m) = m·L_T/L_S`` from student to teacher layers.

    Args:
      num_student_layers: L_S transformer layers in the student.
      num_teacher_layers: L_T ≥ L_S layers in the teacher.
      kind: ``"hidden"`` for ``hidden_states`` lists (L+1 entries: embedding output first, which
        maps to the teacher's embedding output) or ``"attention"`` for per-layer lists (L entries).

    Example:
        >>> uniform_layer_map(2, 4), uniform_layer_map(2, 4, kind="attention")
        ((0, 2, 4), (1, 3))
    """
    if not 1 <= num_student_layers <= num_teacher_layers:
        raise ValueError(
            f"Need 1 <= student layers <= teacher layers; got {num_student_layers} and "
            f"{num_teacher_layers}."
        )
    g = lambda m: m * num_teacher_layers // num_student_layers
    if kind == "hidden":
        return tuple(g(m) for m in range(num_student_layers + 1))
    if kind == "attention":
        return tuple(g(m) - 1 for m in range(1, num_student_layers + 1))
    raise ValueError(f"kind must be 'hidden' or 'attention'; got {kind!r}.")


def _pairs(
    student: Sequence[Any], teacher: Sequence[Any], layer_map: Sequence[int] | None, what: str
) -> list[tuple[int, int]]:
    if len(student) == 0:
        raise ValueError(f"{what}: the student list is empty.")
    if layer_map is None:
        if len(student) != len(teacher):
            raise ValueError(
                f"{what}: the student has {len(student)} entries and the teacher {len(teacher)}; "
                "pass layer_map (student index -> teacher index), e.g. uniform_layer_map(...)."
            )
        return [(i, i) for i in range(len(student))]
    layer_map = tuple(int(j) for j in layer_map)
    if len(layer_map) != len(student) or not all(0 <= j < len(teacher) for j in layer_map):
        raise ValueError(
            f"{what}: layer_map {layer_map} needs one teacher index in [0, {len(teacher)}) per "
            f"student entry ({len(student)})."
        )
    return list(enumerate(layer_map))


def hidden_mse(
    student_hiddens: Sequence[ArrayLike],
    teacher_hiddens: Sequence[ArrayLike],
    *,
    layer_map: Sequence[int] | None = None,
    projections: Sequence[Regressor | None] | None = None,
) -> jax.Array:
    """``Σ_i mean((r_i(h^S_i) − h^T_{map(i)})²)``: hidden-state distillation over paired layers.

    Args:
      student_hiddens: student hidden states, e.g. TinyBert's ``aux["hidden_states"]`` (embedding
        output first, then one (N, L, d_S) array per layer).
      teacher_hiddens: the teacher's list (``stop_gradient`` is applied).
      layer_map: teacher index for each student entry; ``None`` pairs them one to one.
      projections: one regressor (or ``None``) per student entry, for a student narrower than
        the teacher (TinyBERT's ``W_h``); see :func:`init_regressor`.

    Returns:
      The scalar sum over pairs of the per-tensor mean squared error.

    Raises:
      ValueError: on length, layer-map or shape mismatches.

    Example:
        >>> import jax.numpy as jnp
        >>> s = [jnp.zeros((1, 2, 4)), jnp.ones((1, 2, 4))]
        >>> t = [jnp.zeros((1, 2, 4)), jnp.zeros((1, 2, 4)), 3 * jnp.ones((1, 2, 4))]
        >>> float(hidden_mse(s, t, layer_map=(0, 2)))  # 0 + (1 - 3)²
        4.0

    References:
      Jiao et al., "TinyBERT", 2020, https://arxiv.org/abs/1909.10351; Zhang et al.,
      "TernaryBERT", EMNLP 2020, https://arxiv.org/abs/2009.12812; Bai (2021), Eqs. 4.2, 5.10.
    """
    pairs = _pairs(student_hiddens, teacher_hiddens, layer_map, "hidden_mse")
    if projections is not None and len(projections) != len(student_hiddens):
        raise ValueError(
            f"hidden_mse: got {len(projections)} projections for {len(student_hiddens)} student "
            "hidden states; give one regressor or None per student entry."
        )
    total = jnp.zeros((), jnp.float32)
    for i, j in pairs:
        pred = apply_regressor(None if projections is None else projections[i], student_hiddens[i])
        target = jax.lax.stop_gradient(jnp.asarray(teacher_hiddens[j]))
        if pred.shape != target.shape:
            raise ValueError(
                f"hidden_mse: student entry {i} has shape {pred.shape} (after projection) but "
                f"teacher entry {j} has shape {target.shape}; widths that differ need projections."
            )
        total = total + jnp.mean(jnp.square(pred - target))
    return total


def attention_mse(
    student_attn: Sequence[ArrayLike],
    teacher_attn: Sequence[ArrayLike],
    *,
    layer_map: Sequence[int] | None = None,
    mask: ArrayLike | None = None,
    kind: str = "probs",
) -> jax.Array:
    """``Σ_l MSE(Â_l, A_{map(l)})`` over (N, heads, L, L) attention maps, padding excluded.

    TernaryBERT and BinaryBERT distill the **pre-softmax attention scores** (``kind="scores"``);
    TinyBert's ``aux["attentions"]`` are post-softmax **probabilities** (``kind="probs"``).
    :func:`~efficient_jax.distill.make_distill_step` with ``attention="scores"`` computes the
    scores ``q·kᵀ/√d`` of both models and uses this function with the batch's padding mask.

    Args:
      student_attn: one (N, heads, L_q, L_k) array per student layer.
      teacher_attn: the teacher's list (``stop_gradient`` is applied); same heads and lengths.
      layer_map: teacher index for each student layer; ``None`` pairs them one to one.
      mask: optional (N, L) padding mask (1 real token, 0 padding); the mean is taken over the
        (query, key) pairs where both tokens are real.
      kind: ``"probs"`` or ``"scores"``. With ``"scores"``, entries ≤ −100 in either map are
        treated as already masked and set to 0 in both, as the reference code does for scores
        that carry the additive −10000 padding mask.

    Returns:
      The scalar sum over paired layers of the (masked) mean squared error.

    Raises:
      ValueError: on unknown ``kind``, length, layer-map, shape or mask-shape mismatches.

    Example:
        >>> import jax.numpy as jnp
        >>> s, t = [jnp.zeros((1, 1, 2, 2))], [jnp.ones((1, 1, 2, 2))]
        >>> float(attention_mse(s, t, mask=jnp.array([[1, 0]])))
        1.0

    References:
      Zhang et al., "TernaryBERT", EMNLP 2020, https://arxiv.org/abs/2009.12812; Bai (2021),
      §5.3 (spec §4.4).
    """
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"kind must be one of {ATTENTION_KINDS}; got {kind!r}.")
    pairs = _pairs(student_attn, teacher_attn, layer_map, "attention_mse")
    total = jnp.zeros((), jnp.float32)
    for i, j in pairs:
        s = jnp.asarray(student_attn[i])
        t = jax.lax.stop_gradient(jnp.asarray(teacher_attn[j]))
        if s.shape != t.shape or s.ndim != 4:
            raise ValueError(
                f"attention_mse: student layer {i} has shape {s.shape} and teacher layer {j} "
                f"{t.shape}; both must be the same (N, heads, L, L)."
            )
        if kind == "scores":
            s = jnp.where(s <= _MASKED_SCORE, 0.0, s)
            t = jnp.where(t <= _MASKED_SCORE, 0.0, t)
        sq = jnp.square(s - t)
        if mask is None:
            total = total + jnp.mean(sq)
            continue
        m = jnp.asarray(mask).astype(sq.dtype)
        n, _, lq, lk = s.shape
        if m.shape != (n, lk) or lq != lk:
            raise ValueError(
                f"attention_mse: mask has shape {m.shape}; expected (N, L) = {(n, lk)} for "
                f"self-attention maps of shape {s.shape}."
            )
        pair_mask = m[:, None, :, None] * m[:, None, None, :]
        weight = jnp.broadcast_to(pair_mask, sq.shape)
        total = total + jnp.sum(sq * weight) / jnp.maximum(jnp.sum(weight), 1.0)
    return total
