"""NB201 adapters for proxy scoring: a switch edge that runs only the selected op.

The supernet's :class:`~efficient_jax.nas.supernet.MixedEdge` computes all five ops and weighs
them, which under ``jax.vmap`` over masks is the price of one compilation for all cells. For a
loop over one-hot masks inside one jitted ``lax.map``, :class:`SwitchEdge` (same parameter paths,
so the same variables) dispatches with ``lax.switch`` and executes only the selected op: the cost
per cell is that of the discrete network, with still a single compilation.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from efficient_jax.nas.supernet import ReLUConvBN, avg_pool_3x3

# NASLib's NB201 ReLUs sit before every ReLU-conv-BN op's conv and after the last BatchNorm.
NB201_NWOT = {"relu_inputs": r"/conv$", "relu_outputs": r"^last_bn$"}


class SwitchEdge(nn.Module):
    """An NB201 edge computing ``w[k] · op_k(x)`` for ``k = argmax w`` only (one-hot masks)."""

    features: int

    def setup(self):
        self.nor_conv_1x1 = ReLUConvBN(self.features, 1)
        self.nor_conv_3x3 = ReLUConvBN(self.features, 3)

    def __call__(self, x: jax.Array, w: jax.Array, train: bool = False) -> jax.Array:
        if self.is_initializing():
            return w[2] * self.nor_conv_1x1(x, train) + w[3] * self.nor_conv_3x3(x, train)
        k = jnp.argmax(w)
        branches = (
            lambda m, h: jnp.zeros_like(h),
            lambda m, h: h,
            lambda m, h: m.nor_conv_1x1(h, train),
            lambda m, h: m.nor_conv_3x3(h, train),
            lambda m, h: avg_pool_3x3(h),
        )
        return w[k].astype(x.dtype) * nn.switch(k, branches, self, x)
