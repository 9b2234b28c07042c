"""Runs a model and collects what distillation needs: logits, hidden states, attention maps.

Image models return logits only. :class:`~efficient_jax.models.TinyBert` returns hidden states
and attention probabilities with ``return_aux=True``; the pre-softmax attention scores that
TernaryBERT/BinaryBERT distill are rebuilt from the ``query``/``key`` projections captured with
Flax's ``capture_intermediates`` (no change to the model): ``scores = q·kᵀ/√d`` per head,
without the padding mask (the loss masks padding instead).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from efficient_jax.models import BertSelfAttention

ATTENTIONS = ("scores", "probs")


def supports_aux(model: nn.Module) -> bool:
    """Whether ``model`` accepts ``return_aux=True`` (returns hidden states and attentions)."""
    return "return_aux" in inspect.signature(type(model).__call__).parameters


def _capture_filter(mdl: nn.Module, method_name: str) -> bool:
    del method_name
    if isinstance(mdl, BertSelfAttention):
        return True
    return (
        isinstance(mdl, nn.Dense)
        and isinstance(mdl.parent, BertSelfAttention)
        and mdl.name in ("query", "key")
    )


def _natural_key(path: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p)) for p in path)


def _attention_nodes(tree: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[Any]:
    found = []
    if "query" in tree and "key" in tree and "__call__" in tree:
        found.append((path, tree))
    for name, sub in tree.items():
        if isinstance(sub, Mapping):
            found.extend(_attention_nodes(sub, (*path, name)))
    return found


def _scores(q: jax.Array, k: jax.Array, heads: int) -> jax.Array:
    n, length, width = q.shape
    split = lambda y: y.reshape(n, length, heads, width // heads).transpose(0, 2, 1, 3)
    scale = jnp.sqrt(jnp.asarray(width // heads, q.dtype))
    return jnp.einsum("nhqd,nhkd->nhqk", split(q), split(k)) / scale


def attention_scores(intermediates: Mapping[str, Any]) -> list[jax.Array]:
    """Per-layer (N, heads, L, L) pre-softmax scores from captured ``query``/``key`` outputs."""
    scores = []
    for _, node in sorted(_attention_nodes(intermediates), key=lambda pn: _natural_key(pn[0])):
        q, k = node["query"]["__call__"][0], node["key"]["__call__"][0]
        heads = node["__call__"][0][1].shape[1]  # BertSelfAttention returns (out, probs).
        scores.append(_scores(q, k, heads))
    return scores


def model_outputs(
    model: nn.Module,
    variables: Mapping[str, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    train: bool,
    rngs: Mapping[str, jax.Array] | None = None,
    features: bool = False,
    attention: str = "scores",
    update_batch_stats: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Applies ``model`` and returns ``(outputs, mutated)``.

    Args:
      model: any library model; ``features=True`` needs one that accepts ``return_aux``.
      variables: ``{"params", "batch_stats"?}``.
      args, kwargs: model inputs (see :func:`efficient_jax.train.model_inputs`).
      train: training mode (dropout, batch statistics).
      rngs: e.g. ``{"dropout": key}``.
      features: also return ``"hidden_states"`` and ``"attentions"``.
      attention: ``"scores"`` (pre-softmax, rebuilt from ``query``/``key``) or ``"probs"``.
      update_batch_stats: make ``batch_stats`` mutable and return its update in ``mutated``.

    Returns:
      ``({"logits", "hidden_states"?, "attentions"?}, {"batch_stats"?: ...})``.
    """
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}; got {attention!r}.")
    if features and not supports_aux(model):
        raise ValueError(
            f"{type(model).__name__} returns logits only; hidden-state/attention distillation "
            "needs a model that accepts return_aux=True (e.g. TinyBert)."
        )
    mutable = ["batch_stats"] if update_batch_stats else []
    extra: dict[str, Any] = {}
    if features:
        extra["return_aux"] = True
        if attention == "scores":
            extra["capture_intermediates"] = _capture_filter
            mutable.append("intermediates")
    out = model.apply(
        variables, *args, train=train, rngs=rngs, mutable=mutable or False, **kwargs, **extra
    )
    out, mutated = out if mutable else (out, {})
    mutated = dict(mutated)
    if not features:
        return {"logits": out}, mutated
    logits, aux = out
    outputs = {"logits": logits, "hidden_states": list(aux["hidden_states"])}
    if attention == "scores":
        outputs["attentions"] = attention_scores(mutated.pop("intermediates"))
        if len(outputs["attentions"]) != len(aux["attentions"]):
            raise ValueError(
                f"Found {len(outputs['attentions'])} BertSelfAttention query/key taps for "
                f"{len(aux['attentions'])} attention layers; scores need BertSelfAttention layers."
            )
    else:
        outputs["attentions"] = list(aux["attentions"])
    return outputs, mutated
