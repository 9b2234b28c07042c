"""Energy-aware metrics (Wu et al. 2018, §2.3): full adders and representational costs.

For one layer whose weights (``B_w`` bits) take part in dot products of length ``D`` with
activations (``B_x`` bits), counted from shapes alone:

- computational cost: ``#dot products × FA(D)`` full adders with (eq. 2.5, ripple-carry adders
  and Baugh-Wooley multipliers, Sakr et al.)::

      FA(D) = D·B_w·B_x + (D − 1)·(B_x + B_w + ⌈log2 D⌉ − 1)

- weight representational cost ``N_w · |𝒲| · B_w`` (eq. 2.6): ``|𝒲|`` stored (unique) weights,
  each used ``N_w = MACs / #weights`` times; weight sharing lowers ``|𝒲|`` to ``K·s``;
- activation representational cost ``N_x · |𝒳| · B_x`` (eq. 2.7) = ``MACs · B_x`` for a dense
  layer (every MAC reads one activation), unchanged by weight sharing.

Total energy (§2.4.2; the arithmetic is not given, this is the reading recorded in the spec): the
representational cost of one MAC is taken as 6× its computation (Eyeriss), so in full-adder
units ``E = C_comp + 6 · B_w·B_x · (R_w + R_x) / (B_w + B_x)``; the reported ``energy`` is
normalised to MACs, ``E / (B_w·B_x)``. Sharing is assumed not to change the computation (the thesis:
"input-dependent"), and index storage is ignored ("negligible").

Example:
    >>> full_adders(9, weight_bits=8, act_bits=8), full_adders(576)
    (728, 51239)
    >>> e = layer_energy(macs=9 * 100, kernel_shape=(3, 3, 1, 1))  # 100 outputs of a 3×3 conv
    >>> e.computational, e.weight_repr, e.act_repr
    (72800, 7200, 7200)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax

from efficient_jax.core import path_strings
from efficient_jax.cost._macs import macs as count_macs

REPR_FACTOR = 6.0


def _check_bits(bits: Any, name: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 64:
        raise ValueError(f"{name} must be an int in 1..64; got {bits!r}.")
    return bits


def full_adders(d: int, weight_bits: int = 8, act_bits: int = 8) -> int:
    """``FA(D) = D·B_w·B_x + (D − 1)(B_x + B_w + ⌈log2 D⌉ − 1)`` (eq. 2.5)."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"dot-product length D must be a positive int; got {d!r}.")
    bw, bx = _check_bits(weight_bits, "weight_bits"), _check_bits(act_bits, "act_bits")
    return d * bw * bx + (d - 1) * (bx + bw + math.ceil(math.log2(d)) - 1)


@dataclasses.dataclass(frozen=True)
class LayerEnergy:
    """Costs of one layer per example (full adders and bits; see the module docstring)."""

    macs: int
    dot_length: int
    dot_products: int
    weights: int
    unique_weights: int
    computational: int
    weight_repr: int
    act_repr: int
    energy: float


def layer_energy(
    macs: int,
    kernel_shape: tuple[int, ...],
    *,
    unique_weights: int | None = None,
    weight_bits: int = 8,
    act_bits: int = 8,
    repr_factor: float = REPR_FACTOR,
) -> LayerEnergy:
    """Costs of a layer with ``kernel_shape`` (``(..., fan_in, out)``; HWIO convs, (in, out) dense).

    The dot-product length is the product of all but the last kernel dimension.
    """
    weights = math.prod(kernel_shape)
    d = weights // kernel_shape[-1]
    if macs % d or macs % weights:
        raise ValueError(
            f"{macs} MACs are not a whole number of length-{d} dot products using each of the "
            f"{weights} weights equally; is {kernel_shape} the kernel of this layer?"
        )
    unique = weights if unique_weights is None else int(unique_weights)
    if not 1 <= unique <= weights:
        raise ValueError(f"unique_weights must be in 1..{weights}; got {unique_weights}.")
    n_dot = macs // d
    comp = n_dot * full_adders(d, weight_bits, act_bits)
    w_repr = (macs // weights) * unique * weight_bits
    x_repr = macs * act_bits
    fa_mac = weight_bits * act_bits
    total = comp + repr_factor * fa_mac * (w_repr + x_repr) / (weight_bits + act_bits)
    return LayerEnergy(macs, d, n_dot, weights, unique, comp, w_repr, x_repr, total / fa_mac)


@dataclasses.dataclass(frozen=True)
class EnergyReport:
    """Per-layer :class:`LayerEnergy` (keyed like :func:`macs`'s ``per_layer``) and totals.

    ``skipped`` lists MAC-counted layers without a ``<layer>/kernel`` parameter (e.g. attention
    products of two activations); they are not in the totals.
    """

    per_layer: dict[str, LayerEnergy]
    skipped: tuple[str, ...] = ()

    def _sum(self, field: str) -> float:
        return sum(getattr(e, field) for e in self.per_layer.values())

    @property
    def computational(self) -> int:
        return int(self._sum("computational"))

    @property
    def weight_repr(self) -> int:
        return int(self._sum("weight_repr"))

    @property
    def act_repr(self) -> int:
        return int(self._sum("act_repr"))

    @property
    def energy(self) -> float:
        """Total normalised energy (in units of one MAC's computation)."""
        return float(self._sum("energy"))

    def table(self) -> str:
        """A plain-text table: layer, MACs, FA, weight/activation representational cost, energy."""
        head = f"{'layer':<28} {'MACs':>12} {'FA':>14} {'R_w bits':>14} {'R_x bits':>14} {'E':>12}"
        lines = [head, "-" * len(head)]
        for name, e in [*self.per_layer.items(), ("total", self)]:
            m = e.macs if name != "total" else int(self._sum("macs"))
            lines.append(
                f"{name:<28} {m:>12,} {e.computational:>14,} {e.weight_repr:>14,} "
                f"{e.act_repr:>14,} {e.energy:>12,.0f}"
            )
        return "\n".join(lines)


def energy(
    apply_fn: Callable[..., Any],
    variables: Mapping[str, Any],
    *args: Any,
    weight_bits: int = 8,
    act_bits: int = 8,
    unique_weights: Mapping[str, int] | None = None,
    repr_factor: float = REPR_FACTOR,
    **kwargs: Any,
) -> EnergyReport:
    """Energy-aware metrics of ``apply_fn(variables, *args, **kwargs)`` for one batch of inputs.

    Args:
      apply_fn: a Linen ``model.apply`` (or any function with named scopes, see :func:`macs`).
      variables: ``{"params": ...}``; a layer ``L`` of the MAC report uses ``params/L/kernel``.
      *args: the model inputs (arrays or :class:`jax.ShapeDtypeStruct`); pass one example to get
        per-example costs.
      weight_bits, act_bits: ``B_w`` and ``B_x``.
      unique_weights: stored weights per layer after sharing, keyed by layer (``"conv1"``) or
        kernel path (``"conv1/kernel"``), e.g. from :func:`efficient_jax.share.unique_weights`.
      repr_factor: representational cost of a MAC relative to its computation (6, Eyeriss).
      **kwargs: passed to ``apply_fn`` (e.g. ``train=False``).

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> model = nn.Conv(4, (3, 3), padding="VALID")
        >>> x = jnp.ones((1, 5, 5, 2))
        >>> rep = energy(model.apply, model.init(jax.random.key(0), x), x)
        >>> rep.per_layer["Conv"].dot_length, rep.per_layer["Conv"].dot_products
        (18, 36)
    """
    params = variables["params"] if "params" in variables else variables
    kernels = {  # layer path -> kernel ("" for a bare module's own kernel)
        p.removesuffix("kernel").removesuffix("/"): leaf
        for p, leaf in zip(path_strings(params), jax.tree.leaves(params), strict=True)
        if p.endswith("/kernel") or p == "kernel"
    }
    unique = {}
    for k, v in (unique_weights or {}).items():
        unique[k.removesuffix("kernel").removesuffix("/") if k.endswith("kernel") else k] = v
    report = count_macs(apply_fn, variables, *args, **kwargs)
    per_layer, skipped = {}, []
    for name, m in report.per_layer.items():
        kernel = kernels.get(name)
        if kernel is None and len(kernels) == 1 and len(report.per_layer) == 1:
            kernel = next(iter(kernels.values()))
        if kernel is None:
            skipped.append(name)
            continue
        per_layer[name] = layer_energy(
            m,
            tuple(kernel.shape),
            unique_weights=unique.get(name),
            weight_bits=weight_bits,
            act_bits=act_bits,
            repr_factor=repr_factor,
        )
    return EnergyReport(per_layer, tuple(skipped))
