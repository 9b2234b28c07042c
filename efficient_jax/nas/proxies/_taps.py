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
from typing import Any, NamedTuple

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


class TapGrads(NamedTuple):
    """What one tapped forward/backward pass yields (see :func:`tapped_grads`)."""

    inputs: dict[str, jax.Array]  # Conv/Dense layer inputs
    outputs: dict[str, jax.Array]  # Conv/Dense/BatchNorm outputs
    output_grads: dict[str, jax.Array]  # ∂objective/∂output per layer
    input_grad: jax.Array  # ∂objective/∂x
    param_grads: Params  # ∂objective/∂params


def tapped_grads(
    apply_fn: ProxyApplyFn,
    params: Params,
    x: jax.Array,
    train: bool,
    objective: Callable[[jax.Array], jax.Array],
) -> TapGrads:
    """One forward and one backward pass of ``objective(logits)``, with every layer tapped.

    Every proxy that needs gradients of the same objective calls this same function, so when
    several proxies are scored in one ``jit`` their passes are identical programs: XLA's common
    subexpression elimination computes the pass once, and dead-code elimination drops what no
    proxy reads (e.g. the weight gradients when only layer outputs are used).

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> model = nn.Dense(3)
        >>> p = model.init(jax.random.key(0), jnp.ones((2, 4)))["params"]
        >>> tg = tapped_grads(lambda p, x, t: model.apply({"params": p}, x), p, jnp.ones((2, 4)),
        ...                   False, jnp.sum)
        >>> tg.output_grads["Dense"].shape, tg.param_grads["kernel"].shape
        ((2, 3), (4, 3))
    """
    taps = zero_taps(apply_fn, params, x, train)

    def f(t, xx, p):
        logits, ins, outs = tapped_apply(apply_fn, p, xx, train, t)
        return objective(logits), (ins, outs)

    (g_taps, g_x, g_params), (ins, outs) = jax.grad(f, argnums=(0, 1, 2), has_aux=True)(
        taps, x, params
    )
    return TapGrads(ins, outs, g_taps, g_x, g_params)


def output_grads(
    apply_fn: ProxyApplyFn,
    params: Params,
    x: jax.Array,
    train: bool,
    objective: Callable[[jax.Array], jax.Array],
) -> tuple[dict[str, jax.Array], dict[str, jax.Array], dict[str, jax.Array]]:
    """``(inputs, outputs, ∂objective(logits)/∂outputs)`` of every Conv/Dense layer."""
    tg = tapped_grads(apply_fn, params, x, train, objective)
    return tg.inputs, tg.outputs, tg.output_grads


def layer_leaf(params: Params, name: str, leaf: str) -> jax.Array | None:
    """The ``leaf`` (``kernel``, ``bias``) of the layer at module path ``name``, or ``None``."""
    node = params
    for part in name.split("/"):
        if not isinstance(node, dict) and not hasattr(node, "keys"):
            return None
        if part not in node:
            # a model that is a single layer: its tap is named after the class, params at the root
            node = params if "kernel" in params else None
            break
        node = node[part]
    return None if node is None or leaf not in node else node[leaf]


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
