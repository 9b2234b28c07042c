"""PyTorch's default initialisation for Linen parameters, as zero-cost reference scores use it.

NASLib builds every architecture with freshly constructed ``torch.nn`` modules, so its proxy
scores are taken at PyTorch's default initialisation: ``Conv2d``/``Linear`` weights and biases
``U(−1/√fan_in, 1/√fan_in)`` (``kaiming_uniform_(a=√5)``), BatchNorm scale 1 and shift 0. Proxies
that depend on the weights' scale layer by layer (``synflow``, ``plain``, the classifier terms of
``grasp``) rank architectures differently under Flax's or Kaiming initialisers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from efficient_jax.types import Params


def torch_default_init(params: Params, key: jax.Array) -> Params:
    """Re-draws every ``kernel`` and its layer's ``bias`` from ``U(±1/√fan_in)``.

    ``fan_in`` is the product of the kernel's leading dimensions (``k_h·k_w·C_in`` for an HWIO
    convolution, ``C_in`` for a dense layer). Other leaves (BatchNorm ``scale``/``bias``) are kept.

    Args:
      params: a Linen ``params`` tree (nested dicts).
      key: PRNG key; each layer draws from ``fold_in(key, index)`` in sorted path order.

    Returns:
      A tree of the same structure and dtypes.

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> p = nn.Dense(3).init(jax.random.key(0), jnp.ones((1, 100)))["params"]
        >>> q = torch_default_init(p, jax.random.key(1))
        >>> bool(jnp.abs(q["kernel"]).max() <= 0.1), bool(jnp.abs(q["bias"]).max() > 0)
        (True, True)
    """
    counter = [0]

    def visit(node):
        if not hasattr(node, "keys"):
            return node
        out = {}
        kernel = node.get("kernel") if "kernel" in node else None
        bound = 1.0 / math.sqrt(math.prod(kernel.shape[:-1])) if kernel is not None else None
        for name in sorted(node):
            leaf = node[name]
            if bound is not None and name in ("kernel", "bias") and not hasattr(leaf, "keys"):
                k = jax.random.fold_in(key, counter[0])
                counter[0] += 1
                out[name] = jax.random.uniform(k, leaf.shape, leaf.dtype, -bound, bound)
            else:
                out[name] = visit(leaf)
        return out

    return visit(jax.tree.map(jnp.asarray, params))
