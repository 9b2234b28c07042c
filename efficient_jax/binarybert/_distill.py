"""BinaryBERT's distillation stages for fake-quantized students, and DynaBERT-style width shrinking.

:class:`QuantStudent` lets :func:`efficient_jax.distill.make_distill_step` train a fake-quantized
forward (a :class:`~efficient_jax.qat.QuantizedModel` or
:class:`~efficient_jax.binarybert.SplitBinaryModel`) as if it were a Linen module: the train state's
``params`` hold every trainable collection (``params``, ``split``, ``quant``) and the constant
calibration statistics ride along. :func:`feature_distill_loss` is stage 1 (hidden states incl.
the embedding output + pre-softmax attention scores, Eq. 5.10) for a student with fewer heads than
its teacher: each student head is compared with the teacher head it was cut from. Stage 2 and the
split fine-tuning are logits KD (``loss="logits"``, Eq. 5.11). Each stage starts a fresh
:func:`stage_optimizer` (Table 5.1).

:func:`shrink_bert_width` builds the half-width student from the float model, as DynaBERT's
width-0.5 model: keep the most important attention heads and FFN neurons (importance = product of
the norms of the weights entering and leaving them; DynaBERT uses a gradient-based score) with the
hidden size unchanged; :func:`shrink_bert` does it for a width multiplier and returns the
student's model keyword arguments.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import TinyBert
    >>> full = TinyBert(vocab_size=50, hidden_size=32, num_heads=2, intermediate_size=64)
    >>> ids = jnp.ones((1, 8), jnp.int32)
    >>> v = full.init(jax.random.key(0), ids)
    >>> half_params, heads = shrink_bert_width(v["params"], num_heads=2, keep_heads=1,
    ...                                        keep_intermediate=32)
    >>> half = TinyBert(vocab_size=50, hidden_size=32, num_heads=1, head_size=16,
    ...                 intermediate_size=32)
    >>> half.apply({"params": half_params}, ids).shape, len(heads)
    ((1, 2), 2)

References:
  Bai (2021), §5.3, Eqs. 5.10-5.11, Table 5.1; Hou et al., "DynaBERT", NeurIPS 2020,
  https://arxiv.org/abs/2004.04037.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from efficient_jax.distill import attention_mse, hidden_mse
from efficient_jax.train import make_schedule

FIXED = ("quant_stats",)


class QuantStudent:
    """A fake-quant forward with the Linen ``apply`` interface ``make_distill_step`` expects.

    ``apply({"params": trainable}, *args, **kwargs)`` runs ``forward({**trainable, **fixed},
    *args, **kwargs)``; ``__call__`` only advertises ``return_aux`` (TinyBert features).
    """

    def __init__(self, forward: Callable[..., Any], fixed: Mapping[str, Any]):
        self.forward = forward
        self.fixed = dict(fixed)

    def __call__(
        self,
        input_ids: jax.Array,
        train: bool = False,
        attention_mask: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        return_aux: bool = False,
    ) -> Any:
        raise TypeError("QuantStudent is used through .apply only.")

    def apply(self, variables: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        return self.forward({**variables["params"], **self.fixed}, *args, **kwargs)


def split_trainable(qvars: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(trainable, fixed)`` collections of fake-quant variables (statistics are fixed)."""
    trainable = {k: v for k, v in qvars.items() if k not in FIXED}
    return trainable, {k: v for k, v in qvars.items() if k in FIXED}


def feature_distill_loss(
    head_map: Sequence[Sequence[int]] | None = None,
    *,
    hidden_weight: float = 1.0,
    attention_weight: float = 1.0,
) -> Callable[..., tuple[jax.Array, dict[str, jax.Array]]]:
    """Stage-1 loss ``(s_out, t_out, batch) -> (loss, aux)`` for ``make_distill_step``.

    Args:
      head_map: per layer, the teacher head each student head came from (from
        :func:`shrink_bert_width`); ``None`` when student and teacher have the same heads.
      hidden_weight, attention_weight: term weights.
    """

    def loss(s_out, t_out, batch):
        t_att = t_out["attentions"]
        if head_map is not None:
            t_att = [a[:, jnp.asarray(h)] for a, h in zip(t_att, head_map, strict=True)]
        mask = batch.get("attention_mask")
        hid = hidden_mse(s_out["hidden_states"], t_out["hidden_states"])
        att = attention_mse(s_out["attentions"], t_att, mask=mask, kind="scores")
        total = hidden_weight * hid + attention_weight * att
        return total, {"hidden": hid, "attention": att}

    return loss


_LAYER = re.compile(r"^layer_\d+$")


def shrink_bert_width(
    params: Mapping[str, Any],
    *,
    num_heads: int,
    keep_heads: int,
    keep_intermediate: int,
) -> tuple[dict[str, Any], list[list[int]]]:
    """TinyBert params with fewer heads and FFN neurons (hidden size unchanged).

    Args:
      params: float TinyBert params (``layer_i`` blocks).
      num_heads: the model's heads; the head size stays ``inner // num_heads``.
      keep_heads: heads kept per layer (``1 <= keep_heads <= num_heads``).
      keep_intermediate: FFN neurons kept per layer.

    Returns:
      ``(params, head_map)``: the shrunk params (build the model with ``num_heads=keep_heads``,
      ``head_size`` = the old head size, ``intermediate_size=keep_intermediate``) and, per layer,
      the sorted indices of the kept teacher heads.

    Raises:
      ValueError: keep counts out of range or params that are not a TinyBert's.
    """
    layers = sorted((k for k in params if _LAYER.match(k)), key=lambda k: int(k.split("_")[1]))
    if not layers:
        raise ValueError("shrink_bert_width: no 'layer_i' blocks in params (not a TinyBert).")
    if not 1 <= keep_heads <= num_heads:
        raise ValueError(f"keep_heads must be in [1, {num_heads}]; got {keep_heads}.")
    out = {k: v for k, v in params.items()}
    head_map = []
    for name in layers:
        p = jax.tree.map(np.asarray, params[name])
        att = p["attention"]
        inner = att["query"]["kernel"].shape[1]
        if inner % num_heads:
            raise ValueError(f"{name}: attention width {inner} is not divisible by {num_heads}.")
        hd = inner // num_heads
        score = [
            np.linalg.norm(att["value"]["kernel"][:, h * hd : (h + 1) * hd])
            * np.linalg.norm(att["output"]["kernel"][h * hd : (h + 1) * hd])
            for h in range(num_heads)
        ]
        heads = sorted(np.argsort(score)[::-1][:keep_heads].tolist())
        cols = np.concatenate([np.arange(h * hd, (h + 1) * hd) for h in heads])
        width = p["intermediate"]["kernel"].shape[1]
        if not 1 <= keep_intermediate <= width:
            raise ValueError(f"keep_intermediate must be in [1, {width}]; got {keep_intermediate}.")
        imp = np.linalg.norm(p["intermediate"]["kernel"], axis=0) * np.linalg.norm(
            p["output"]["kernel"], axis=1
        )
        neurons = np.sort(np.argsort(imp)[::-1][:keep_intermediate])
        new_att = dict(att)
        for proj in ("query", "key", "value"):
            new_att[proj] = {
                "kernel": att[proj]["kernel"][:, cols],
                "bias": att[proj]["bias"][cols],
            }
        new_att["output"] = {**att["output"], "kernel": att["output"]["kernel"][cols]}
        out[name] = {
            **p,
            "attention": new_att,
            "intermediate": {
                "kernel": p["intermediate"]["kernel"][:, neurons],
                "bias": p["intermediate"]["bias"][neurons],
            },
            "output": {**p["output"], "kernel": p["output"]["kernel"][neurons]},
        }
        head_map.append(heads)
    return jax.tree.map(jnp.asarray, out), head_map


def shrink_bert(
    params: Mapping[str, Any], model_kwargs: Mapping[str, Any], *, width_mult: float
) -> tuple[dict[str, Any], dict[str, Any], list[list[int]]]:
    """The width-``width_mult`` student of a float TinyBert (DynaBERT-style, §5.3).

    Heads and FFN neurons are scaled by ``width_mult`` (rounded, at least 1) with the head size
    and hidden size unchanged (:func:`shrink_bert_width`).

    Args:
      params: the float TinyBert params.
      model_kwargs: its model keyword arguments (``hidden_size``, ``intermediate_size``,
        ``num_heads`` (default 2), ...).
      width_mult: the width multiplier (0.5: the thesis' half-width ternary model).

    Returns:
      ``(params, model_kwargs, head_map)`` of the student (build it with these kwargs).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.models import TinyBert
        >>> kw = dict(vocab_size=50, hidden_size=32, num_heads=2, intermediate_size=64)
        >>> v = TinyBert(**kw).init(jax.random.key(0), jnp.ones((1, 8), jnp.int32))
        >>> _, half_kw, head_map = shrink_bert(v["params"], kw, width_mult=0.5)
        >>> half_kw["num_heads"], half_kw["head_size"], half_kw["intermediate_size"], head_map
        (1, 16, 32, [[0], [0]])
    """
    mk = dict(model_kwargs)
    heads = mk.get("num_heads", 2)  # TinyBert's default
    keep_heads = max(1, int(round(heads * width_mult)))
    keep_inter = max(1, int(round(mk["intermediate_size"] * width_mult)))
    kwargs = {**mk, "num_heads": keep_heads, "head_size": mk["hidden_size"] // heads}
    kwargs["intermediate_size"] = keep_inter
    small, head_map = shrink_bert_width(
        params, num_heads=heads, keep_heads=keep_heads, keep_intermediate=keep_inter
    )
    return small, kwargs, head_map


def stage_optimizer(
    learning_rate: float,
    steps: int,
    *,
    warmup_fraction: float = 0.1,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
) -> optax.GradientTransformation:
    """One distillation stage's optimizer (Table 5.1): AdamW, linear decay after a warm-up of
    ``warmup_fraction · steps`` steps, weight decay, gradient clipping by global norm.

    Raises:
      ValueError: a non-positive ``learning_rate`` or ``steps``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = stage_optimizer(1e-3, 100)
        >>> state = tx.init({"w": jnp.ones(3)})
    """
    warm = int(warmup_fraction * steps)
    sched = make_schedule("linear", learning_rate, steps, warm if warm < steps else 0)
    return optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.adamw(sched, weight_decay=weight_decay),
    )
