"""Fixed weight sharing of depthwise filters (Bidart 2023, Ch. 3.2).

A weight-shared depthwise conv stores ``d/s`` basis filters and reuses each one ``s`` times along
the channel axis: output channel ``c`` uses basis filter ``c mod (d/s)`` (``jnp.tile``, the
``weight.repeat(s, 1, 1, 1)`` of the author's PyTorch code). ``s = 1`` is a plain depthwise conv;
``s = 2, 4, 8`` keep 50 / 25 / 12.5 % of the depthwise parameters.

Gradient rule (``grad_reduction``): the thesis text *averages* the gradients of the copies
(``"mean"``); tiling under autodiff *sums* them (``"sum"``, what the copy implementation does).
They differ by the factor ``s``, which matters for SGD.

Example:
    >>> import jax, jax.numpy as jnp
    >>> conv = SharedDepthwiseConv(features=8, kernel_size=(3, 3), sharing=4)
    >>> variables = conv.init(jax.random.key(0), jnp.ones((1, 5, 5, 8)))
    >>> variables["params"]["basis"].shape  # 8 / 4 = 2 basis filters
    (3, 3, 1, 2)

References:
    Bidart, "Representational Redundancy Reduction Strategies for Efficient Neural Network
    Architectures for Visual and Language Tasks", PhD thesis, University of Waterloo, 2023, §3.2.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

GRAD_REDUCTIONS = ("sum", "mean")


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def tile_shared(basis: jax.Array, sharing: int, grad_reduction: str = "sum") -> jax.Array:
    """``jnp.tile(basis, (1,) * (ndim - 1) + (sharing,))``; the basis gradient sums or averages.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> b = jnp.ones((1, 1, 1, 2))
        >>> g = jax.grad(lambda b: tile_shared(b, 4, "mean").sum())(b)
        >>> g.ravel().tolist()
        [1.0, 1.0]
    """
    return jnp.tile(basis, (1,) * (basis.ndim - 1) + (sharing,))


def _tile_fwd(basis, sharing, grad_reduction):
    return tile_shared(basis, sharing, grad_reduction), None


def _tile_bwd(sharing, grad_reduction, _, g):
    g = g.reshape(*g.shape[:-1], sharing, g.shape[-1] // sharing).sum(axis=-2)
    return (g / sharing if grad_reduction == "mean" else g,)


tile_shared.defvjp(_tile_fwd, _tile_bwd)


def shared_depthwise_params(features: int, kernel_size: tuple[int, int], sharing: int) -> int:
    """Parameters of a weight-shared depthwise kernel: ``(d / s) · h · w`` (thesis Table 3.1)."""
    _check_sharing(features, sharing, "sum")
    return features // sharing * kernel_size[0] * kernel_size[1]


def _check_sharing(features: int, sharing: int, grad_reduction: str) -> None:
    if isinstance(sharing, bool) or not isinstance(sharing, int) or sharing < 1:
        raise ValueError(f"sharing must be a positive int (1, 2, 4, 8); got {sharing!r}.")
    if features % sharing:
        raise ValueError(f"features={features} must be divisible by sharing={sharing}.")
    if grad_reduction not in GRAD_REDUCTIONS:
        raise ValueError(
            f"grad_reduction must be one of {GRAD_REDUCTIONS}; got {grad_reduction!r}."
        )


class SharedDepthwiseConv(nn.Module):
    """Depthwise conv whose ``features`` filters are ``sharing`` copies of ``features/sharing``.

    Attributes:
      features: channels in = channels out.
      kernel_size: spatial size ``(h, w)``.
      sharing: ``s``: each basis filter is used ``s`` times.
      strides, padding, use_bias: as in :class:`flax.linen.Conv`.
      grad_reduction: ``"sum"`` (autodiff through the copies) or ``"mean"`` (the thesis text).
    """

    features: int
    kernel_size: tuple[int, int] = (3, 3)
    sharing: int = 1
    strides: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    use_bias: bool = False
    grad_reduction: str = "sum"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_sharing(self.features, self.sharing, self.grad_reduction)
        if x.shape[-1] != self.features:
            raise ValueError(f"input has {x.shape[-1]} channels; expected {self.features}.")
        basis = self.param(
            "basis",
            nn.initializers.lecun_normal(),
            (*self.kernel_size, 1, self.features // self.sharing),
        )
        kernel = tile_shared(basis, self.sharing, self.grad_reduction)
        y = jax.lax.conv_general_dilated(
            x,
            kernel.astype(x.dtype),
            self.strides,
            self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=self.features,
        )
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y
