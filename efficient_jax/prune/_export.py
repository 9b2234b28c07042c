"""Physical export of channel pruning: a smaller dense model without the pruned channels.

A channel mask on a consumer layer's input channels (Bai 2021 §3.2.4, group ``w_i`` = input
channel ``i``) makes the producer's matching output filters, and the BatchNorm entries between the
two, dead weight. :func:`export_channel_pruned` slices them all out, so parameters, FLOPs and
latency really drop; :func:`slim_apply` runs the original Linen model on the sliced variables
(every Conv/Dense/BatchNorm call is intercepted and computed at the shape of its stored
variables), and :func:`verify_export` checks that the exported model equals the masked one.

A group is valid when the producer's output reaches only the consumer (through element-wise ops
and BatchNorm), as in ``conv1 → bn1 → relu → conv2`` inside a residual block. A producer whose
output also feeds a residual sum must not be exported this way; :func:`verify_export` catches it.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import LeNet5
    >>> model = LeNet5()
    >>> x = jnp.ones((2, 8, 8, 1))
    >>> variables = model.init(jax.random.key(0), x)
    >>> groups = channel_groups(model, variables, x, ["conv2"])
    >>> groups[0].producer, groups[0].norms
    ('conv1', ())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.prune._cross_distill import _replace, _sub, model_layers
from efficient_jax.prune._structured import channel_keep


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
    """A consumer layer whose input channels are the producer's outputs (through ``norms``)."""

    consumer: str
    producer: str
    norms: tuple[str, ...] = ()


def channel_groups(
    model: nn.Module, variables: Mapping[str, Any], x: jax.Array, consumers: Sequence[str]
) -> list[ChannelGroup]:
    """Pairs each consumer layer with the Conv/Dense layer right before it in the forward pass.

    Raises:
      ValueError: for an unknown consumer, a consumer without a preceding layer, or a producer
        whose output width differs from the consumer's input channels (e.g. a flatten between).
    """
    layers = model_layers(model, variables, x)
    order = [li.path for li in layers]
    groups = []
    for consumer in consumers:
        if consumer not in order:
            weighted = [li.path for li in layers if li.kind != "norm"]
            raise ValueError(f"Unknown consumer layer {consumer!r}; Conv/Dense layers: {weighted}.")
        i = order.index(consumer)
        norms: list[str] = []
        j = i - 1
        while j >= 0 and layers[j].kind == "norm":
            norms.insert(0, layers[j].path)
            j -= 1
        if j < 0:
            raise ValueError(f"Layer {consumer!r} has no producer layer before it to slice.")
        producer = layers[j].path
        c_out = _sub(variables["params"], producer)["kernel"].shape[-1]
        c_in = _sub(variables["params"], consumer)["kernel"].shape[-2]
        if c_out != c_in:
            raise ValueError(
                f"Cannot export channels of {consumer!r}: its {c_in} input channels are not the "
                f"{c_out} outputs of the preceding layer {producer!r} (reshape in between?)."
            )
        groups.append(ChannelGroup(consumer, producer, tuple(norms)))
    return groups


def _take(x: Any, idx: np.ndarray) -> np.ndarray:
    """Host-side slice of the last axis (no per-shape XLA compilation)."""
    return np.take(np.asarray(x), idx, axis=-1)


def export_channel_pruned(
    variables: Mapping[str, Any], masks: Any, groups: Sequence[ChannelGroup]
) -> tuple[dict[str, Any], dict[str, int]]:
    """Slices pruned channels out of consumers, producers and the BatchNorms between them.

    Args:
      variables: the masked model's ``{"params", "batch_stats"?}``.
      masks: params-like mask tree with channel masks on the consumer kernels.
      groups: from :func:`channel_groups`.

    Returns:
      ``(slim_variables, {consumer: channels kept})``; run them with :func:`slim_apply`.

    Raises:
      ValueError: if a consumer has no mask.
    """
    out = {k: v for k, v in variables.items()}
    kept: dict[str, int] = {}
    for g in groups:
        try:
            mask = _sub(masks, f"{g.consumer}/kernel")
        except (KeyError, TypeError):
            mask = None
        if mask is None:
            raise ValueError(f"No channel mask for consumer {g.consumer!r}.")
        idx = np.flatnonzero(np.asarray(channel_keep(jnp.asarray(mask))))
        kept[g.consumer] = int(idx.size)
        params = out["params"]
        cons = dict(_sub(params, g.consumer))
        cons["kernel"] = np.take(np.asarray(cons["kernel"]), idx, axis=-2)
        params = _replace(params, g.consumer, cons)
        prod = {k: _take(v, idx) for k, v in _sub(params, g.producer).items()}
        params = _replace(params, g.producer, prod)
        for norm in g.norms:
            sliced = {k: _take(v, idx) for k, v in _sub(params, norm).items()}
            params = _replace(params, norm, sliced)
            if "batch_stats" in out:
                stats = {k: _take(v, idx) for k, v in _sub(out["batch_stats"], norm).items()}
                out["batch_stats"] = _replace(out["batch_stats"], norm, stats)
        out["params"] = params
    return out, kept


def _batch_norm(module: nn.BatchNorm, x: jax.Array) -> jax.Array:
    params = module.variables.get("params", {})
    stats = module.variables["batch_stats"]
    y = (x - stats["mean"]) * jax.lax.rsqrt(stats["var"] + module.epsilon)
    if "scale" in params:
        y = y * params["scale"]
    if "bias" in params:
        y = y + params["bias"]
    return y


def slim_apply(model: nn.Module):
    """``apply_fn(variables, *args, train=False)`` for variables with sliced channels.

    Every Conv/Dense runs with ``features`` taken from its stored kernel, every BatchNorm with its
    stored (running) statistics, so ``model`` works unchanged at the exported widths. Inference
    only (BatchNorm statistics are never updated).
    """

    inside = [False]  # The slim clone's own call must not be intercepted again.

    def interceptor(next_fun, args, kwargs, ctx):
        mod = ctx.module
        if ctx.method_name != "__call__" or inside[0]:
            return next_fun(*args, **kwargs)
        if isinstance(mod, nn.BatchNorm):
            return _batch_norm(mod, args[0])
        if isinstance(mod, (nn.Conv, nn.Dense)):
            params = mod.variables["params"]
            slim = mod.clone(parent=None, name=None, features=params["kernel"].shape[-1])
            inside[0] = True
            try:
                return slim.apply({"params": params}, args[0])
            finally:
                inside[0] = False
        return next_fun(*args, **kwargs)

    def apply_fn(variables, *args, train: bool = False, **kwargs):
        if train:
            raise ValueError("slim_apply is inference-only; call it with train=False.")
        with nn.intercept_methods(interceptor):
            return model.apply(variables, *args, train=False, **kwargs)

    return apply_fn


def verify_export(
    model: nn.Module,
    masked_variables: Mapping[str, Any],
    slim_variables: Mapping[str, Any],
    x: jax.Array,
    *,
    atol: float = 1e-4,
) -> float:
    """Max |logit difference| between the masked model and the exported one on ``x``.

    Raises:
      ValueError: if the difference exceeds ``atol`` (the export is not equivalent).
    """
    ref = model.apply(masked_variables, x, train=False)
    got = slim_apply(model)(slim_variables, x)
    err = float(jnp.max(jnp.abs(ref - got)))
    if not err <= atol:
        raise ValueError(
            f"Exported model differs from the masked model by {err:.3g} > {atol} in the logits; "
            "a producer's output probably also feeds another path (e.g. a residual sum)."
        )
    return err
