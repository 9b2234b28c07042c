"""Taps on Flax Linen layers: record each Conv/Dense input and output, add a zero to each output.

Zero-cost proxies need quantities PyTorch code gets from forward/backward hooks: the input of every
ReLU-fed layer (NWOT), the output activation and its gradient (Fisher), and whether a layer is
used at all by the architecture in a masked supernet. :func:`tapped_apply` obtains them from any
Linen model through :func:`flax.linen.intercept_methods`, without changing the model: an
additive tap ``t`` (zeros) on a layer's output makes ``∂L/∂t`` the gradient w.r.t. that output.

A layer whose output does not reach the logits (an op with mask weight 0 in the masked NB201
supernet) gets an exactly-zero output gradient: :func:`active_layers` turns that into a 0/1 flag
per layer, so proxies that count layers (``l2_norm``, ``nwot``) see only the architecture's ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from efficient_jax.types import Params

# apply_fn(params, x, train) -> logits; ``train`` selects BatchNorm batch statistics.
ProxyApplyFn = Callable[[Params, jax.Array, bool], jax.Array]
_LAYERS = (nn.Conv, nn.Dense, nn.BatchNorm)


def _module_name(module: nn.Module) -> str:
    scope = getattr(module, "scope", None)
    path = getattr(scope, "path", None) if scope is not None else None
    return "/".join(str(p) for p in path) if path else type(module).__name__


def tapped_apply(
    apply_fn: ProxyApplyFn,
    params: Params,
    x: jax.Array,
    train: bool,
    taps: dict[str, jax.Array] | None = None,
) -> tuple[jax.Array, dict[str, jax.Array], dict[str, jax.Array]]:
    """Runs ``apply_fn`` recording every Conv/Dense/BatchNorm layer's input and output.

    Args:
      apply_fn: ``(params, x, train) -> logits`` of a Linen model.
      params: its parameters.
      x: the input batch.
      train: passed to ``apply_fn``.
      taps: optional ``{layer name: zeros like its output}`` added to the outputs (names as in
        the returned dicts); differentiate w.r.t. them to get output gradients.

    Returns:
      ``(logits, inputs, outputs)``: the two dicts map ``"a/b/conv"`` module paths to arrays;
      ``inputs`` has the Conv/Dense layers only, ``outputs`` also the BatchNorms (before the tap is
      added).

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> model = nn.Dense(3)
        >>> p = model.init(jax.random.key(0), jnp.ones((2, 4)))
        >>> logits, ins, outs = tapped_apply(lambda p, x, t: model.apply(p, x), p, jnp.ones((2, 4)),
        ...                                  False)
        >>> list(outs), outs["Dense"].shape
        (['Dense'], (2, 3))
    """
    inputs: dict[str, jax.Array] = {}
    outputs: dict[str, jax.Array] = {}

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and isinstance(context.module, _LAYERS):
            name = _module_name(context.module)
            if not isinstance(context.module, nn.BatchNorm):
                inputs[name] = args[0]
            outputs[name] = out
            if taps is not None and name in taps:
                out = out + taps[name]
        return out

    with nn.intercept_methods(interceptor):
        logits = apply_fn(params, x, train)
    return logits, inputs, outputs


def layer_shapes(
    apply_fn: ProxyApplyFn, params: Params, x: jax.Array, train: bool
) -> dict[str, jax.ShapeDtypeStruct]:
    """Output shapes of every Conv/Dense layer (abstract evaluation, no FLOPs)."""
    return jax.eval_shape(lambda p, x: tapped_apply(apply_fn, p, x, train)[2], params, x)


def zero_taps(
    apply_fn: ProxyApplyFn, params: Params, x: jax.Array, train: bool
) -> dict[str, jax.Array]:
    return {
        k: jnp.zeros(s.shape, s.dtype) for k, s in layer_shapes(apply_fn, params, x, train).items()
    }


def output_grads(
    apply_fn: ProxyApplyFn,
    params: Params,
    x: jax.Array,
    train: bool,
    objective: Callable[[jax.Array], jax.Array],
) -> tuple[dict[str, jax.Array], dict[str, jax.Array], dict[str, jax.Array]]:
    """``(inputs, outputs, ∂objective(logits)/∂outputs)`` of every Conv/Dense layer."""
    taps = zero_taps(apply_fn, params, x, train)

    def f(t):
        logits, ins, outs = tapped_apply(apply_fn, params, x, train, t)
        return objective(logits), (ins, outs)

    grads, (ins, outs) = jax.grad(f, has_aux=True)(taps)
    return ins, outs, grads


def active_layers(grads: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """1.0 for a layer whose output gradient is not identically zero, else 0.0."""
    return {k: (jnp.max(jnp.abs(g)) > 0).astype(jnp.float32) for k, g in grads.items()}


def kernel_layer(path: str) -> str | None:
    """``"params/a/conv/kernel"`` or ``"a/conv/kernel"`` → ``"a/conv"``; None for other leaves."""
    parts = path.split("/")
    if parts[-1] != "kernel":
        return None
    parts = parts[:-1]
    if parts and parts[0] == "params":
        parts = parts[1:]
    return "/".join(parts)


def sum_tree(tree: Any) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    return sum((jnp.sum(leaf) for leaf in leaves), jnp.zeros((), jnp.float32))
