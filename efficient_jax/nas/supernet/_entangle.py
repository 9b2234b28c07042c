"""Weight entanglement (TangleNAS): candidate ops share one max-size kernel, mixed before the conv.

Reference: Sukthanker et al., "Weight-Entanglement Meets Gradient-Based Neural Architecture Search"
(TangleNAS), AutoML 2024 (spec 004_abstracts.md #1; code automl/TangleNAS). A choice of kernel
size ``k`` is the centred ``k×k`` slice of one ``K×K`` kernel and a choice of ``c`` output channels
is the first ``c`` filters, both written as static-shape masks (no dynamic slicing under ``jit``).
DARTS/GDAS mixing of the choices happens on the *weights*:

    W_mix = W ⊙ (Σ_k a_k · M_k) ⊙ (Σ_c b_c · m_c),   out = conv(x, W_mix)

so one convolution runs, and memory equals that of the largest op (not the sum over ops as in
DARTS). With one-hot ``a``/``b`` the result equals the small op with the sliced weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.nas.spaces import NB201_OPS, NB201Cell
from efficient_jax.nas.supernet._nb201 import (
    _BN_EPS,
    _BN_MOMENTUM,
    CONV_OPS,
    _edge_name,
    _kaiming_normal,
    avg_pool_3x3,
)


def kernel_size_masks(max_kernel: int, kernel_sizes: Sequence[int]) -> np.ndarray:
    """``(len(kernel_sizes), K, K)`` 0/1 masks of the centred ``k×k`` windows of a ``K×K`` kernel.

    Raises:
      ValueError: a size that is even, < 1 or larger than ``max_kernel``.

    Example:
        >>> kernel_size_masks(3, (1, 3)).sum(axis=(1, 2)).tolist()
        [1.0, 9.0]
    """
    if max_kernel < 1 or max_kernel % 2 == 0:
        raise ValueError(f"max_kernel must be odd and >= 1, got {max_kernel}.")
    out = np.zeros((len(kernel_sizes), max_kernel, max_kernel), np.float32)
    for i, k in enumerate(kernel_sizes):
        if not (1 <= int(k) <= max_kernel and int(k) % 2 == 1):
            raise ValueError(f"kernel sizes must be odd and in [1, {max_kernel}], got {k}.")
        lo = (max_kernel - int(k)) // 2
        out[i, lo : lo + int(k), lo : lo + int(k)] = 1.0
    return out


def channel_masks(max_channels: int, choices: Sequence[int]) -> np.ndarray:
    """``(len(choices), C)`` 0/1 masks keeping the first ``c`` of ``C`` channels.

    Raises:
      ValueError: a choice outside ``[1, max_channels]``.
    """
    out = np.zeros((len(choices), max_channels), np.float32)
    for i, c in enumerate(choices):
        if not 1 <= int(c) <= max_channels:
            raise ValueError(f"channel choices must be in [1, {max_channels}], got {c}.")
        out[i, : int(c)] = 1.0
    return out


def entangled_kernel(
    kernel: jax.Array,
    kernel_weights: jax.Array,
    kernel_sizes: Sequence[int],
    channel_weights: jax.Array | None = None,
    channel_choices: Sequence[int] | None = None,
) -> jax.Array:
    """The mixed kernel ``W ⊙ (Σ_k a_k M_k) ⊙ (Σ_c b_c m_c)`` of a ``(K, K, C_in, C_out)`` kernel.

    Args:
      kernel: the max-size HWIO kernel.
      kernel_weights: ``(len(kernel_sizes),)`` mixing weights ``a`` (softmax α, Gumbel sample or
        one-hot).
      kernel_sizes: odd kernel sizes ``≤ K``.
      channel_weights: optional ``(len(channel_choices),)`` weights ``b`` over output widths.
      channel_choices: output widths ``≤ C_out`` (required with ``channel_weights``).

    Raises:
      ValueError: shape mismatches, or only one of ``channel_weights``/``channel_choices``.

    Example:
        >>> import jax.numpy as jnp
        >>> w = entangled_kernel(jnp.ones((3, 3, 2, 4)), jnp.array([1.0, 0.0]), (1, 3))
        >>> float(w.sum())  # only the centre tap of each of the 2×4 filters survives
        8.0
    """
    if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be square HWIO (K, K, C_in, C_out), got {kernel.shape}.")
    if kernel_weights.shape != (len(kernel_sizes),):
        raise ValueError(
            f"kernel_weights must have shape ({len(kernel_sizes)},) for kernel sizes "
            f"{tuple(kernel_sizes)}, got {kernel_weights.shape}."
        )
    if (channel_weights is None) != (channel_choices is None):
        raise ValueError("channel_weights and channel_choices must be given together.")
    km = jnp.asarray(kernel_size_masks(kernel.shape[0], kernel_sizes))
    spatial = jnp.tensordot(kernel_weights.astype(kernel.dtype), km, axes=1)  # (K, K)
    out = kernel * spatial[:, :, None, None]
    if channel_weights is not None:
        if channel_weights.shape != (len(channel_choices),):
            raise ValueError(
                f"channel_weights must have shape ({len(channel_choices)},), "
                f"got {channel_weights.shape}."
            )
        cm = jnp.asarray(channel_masks(kernel.shape[3], channel_choices))
        out = out * jnp.tensordot(channel_weights.astype(kernel.dtype), cm, axes=1)
    return out


class EntangledConv(nn.Module):
    """A conv whose kernel-size (and optionally width) choices are masked slices of one kernel.

    ``__call__(x, kernel_weights, channel_weights=None)`` runs one convolution with
    :func:`entangled_kernel`; "SAME" padding, so all kernel sizes keep the spatial shape.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> conv = EntangledConv(features=4, kernel_sizes=(1, 3))
        >>> x = jnp.ones((1, 5, 5, 2))
        >>> v = conv.init(jax.random.key(0), x, jnp.array([0.5, 0.5]))
        >>> conv.apply(v, x, jnp.array([0.0, 1.0])).shape
        (1, 5, 5, 4)
    """

    features: int
    kernel_sizes: Sequence[int] = (1, 3)
    channel_choices: Sequence[int] | None = None

    @nn.compact
    def __call__(
        self, x: jax.Array, kernel_weights: jax.Array, channel_weights: jax.Array | None = None
    ) -> jax.Array:
        kmax = max(self.kernel_sizes)
        kernel = self.param(
            "kernel", _kaiming_normal, (kmax, kmax, x.shape[-1], self.features), jnp.float32
        )
        w = entangled_kernel(
            kernel, kernel_weights, self.kernel_sizes, channel_weights, self.channel_choices
        )
        p = kmax // 2
        return jax.lax.conv_general_dilated(
            x,
            w.astype(x.dtype),
            (1, 1),
            ((p, p), (p, p)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )


class EntangledEdge(nn.Module):
    """An NB201 edge with ``nor_conv_1x1`` and ``nor_conv_3x3`` entangled in one 3×3 kernel.

    ``out = w_none·0 + w_skip·x + (w_1x1 + w_3x3)·BN(conv(ReLU x, W_mix)) + w_pool·pool(x)`` with
    ``W_mix = W ⊙ (w_1x1 M_1 + w_3x3 M_3) / (w_1x1 + w_3x3)``. The conv group shares one BN (BN is
    scale invariant in training, so the normalisation only fixes the eval scale); the factor
    ``(w_1x1 + w_3x3)`` makes a one-hot on a parameter-free op give exactly that op. Pass it as
    ``NB201Supernet(edge_cls=EntangledEdge)``; parameters live at ``edge_i_j/entangled/{conv,bn}``.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, train: bool = False) -> jax.Array:
        i1, i3 = NB201_OPS.index("nor_conv_1x1"), NB201_OPS.index("nor_conv_3x3")
        group = w[i1] + w[i3]
        kw = jnp.stack([w[i1], w[i3]]) / jnp.maximum(group, 1e-12)
        y = _EntangledReLUConvBN(self.features, name="entangled")(x, kw, train)
        return (
            w[NB201_OPS.index("skip_connect")].astype(x.dtype) * x
            + group.astype(x.dtype) * y
            + w[NB201_OPS.index("avg_pool_3x3")].astype(x.dtype) * avg_pool_3x3(x)
        )


class _EntangledReLUConvBN(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x: jax.Array, kernel_weights: jax.Array, train: bool) -> jax.Array:
        y = EntangledConv(self.features, (1, 3), name="conv")(nn.relu(x), kernel_weights)
        return nn.BatchNorm(
            use_running_average=not train, momentum=_BN_MOMENTUM, epsilon=_BN_EPS, name="bn"
        )(y)


def entangled_to_network_variables(variables, cell: NB201Cell) -> dict:
    """Variables of an ``EntangledEdge`` supernet rewritten into ``NB201Network(cell)``'s layout.

    Every collection (``params``, ``batch_stats``) is converted: each conv edge gets the sliced
    kernel (the centre tap for 1×1) and the shared BN, so the standalone network computes what the
    entangled supernet computes with ``cell_to_mask(cell)``.
    """
    return {col: _convert_tree(tree, cell) for col, tree in variables.items()}


def _convert_tree(tree, cell: NB201Cell) -> dict:
    out = {}
    for name, sub in tree.items():
        if not (name.startswith("cell_") and any(k.startswith("edge_") for k in sub)):
            out[name] = sub  # stem, head, residual reduction blocks
            continue
        cell_p = {}
        for e, op in enumerate(cell.ops):
            en, opname = _edge_name(e), NB201_OPS[op]
            if opname not in CONV_OPS:
                continue
            ent = sub[en]["entangled"]
            new = {}
            if "conv" in ent:
                k = ent["conv"]["kernel"]
                new["conv"] = {"kernel": k[1:2, 1:2] if opname == "nor_conv_1x1" else k}
            if "bn" in ent:
                new["bn"] = ent["bn"]
            cell_p[en] = {opname: new}
        out[name] = cell_p
    return out
