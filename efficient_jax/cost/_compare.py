"""Cost-aware model comparison: Pareto fronts, accuracy at equal cost, scaled model variants.

The lesson of Wang (2022) Ch. 6 (scaled SECOND) and Ch. 7: compare models at *equal cost*
(FLOPs or measured latency), over several cost regimes, because a bigger variant of a simple
model often beats a "better" architecture that simply spends more. This module is model-agnostic:
points are ``(name, accuracy, cost)`` for any model, ensemble or cascade.

- :func:`pareto_front`: the non-dominated points, by increasing cost.
- :func:`accuracy_at_cost`: the best accuracy within a cost budget.
- :func:`compare_at_equal_cost`: for each reference model, the best candidate at ≤ its cost
  (accuracy gain) and the cheapest candidate at ≥ its accuracy (speed-up) — the two columns of
  the thesis's Table 5.3.
- :func:`scaling_variants` / :func:`compound_scaling`: depth/width/resolution multipliers of a base
  model (any Flax model, through a factory), each with its FLOPs.

Example:
    >>> pts = [CostPoint("a", 0.70, 1.0), CostPoint("b", 0.80, 4.0), CostPoint("c", 0.75, 5.0)]
    >>> [p.name for p in pareto_front(pts)]
    ['a', 'b']
    >>> accuracy_at_cost(pts, 4.5).name
    'b'
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from efficient_jax.cost._macs import macs


class CostPoint(NamedTuple):
    """A model (or committee) with its accuracy and cost (FLOPs, seconds, bytes: one unit)."""

    name: str
    accuracy: float
    cost: float


def _points(points: Sequence[CostPoint]) -> list[CostPoint]:
    out = [CostPoint(str(p[0]), float(p[1]), float(p[2])) for p in points]
    for p in out:
        if not p.cost >= 0 or p.accuracy != p.accuracy:
            raise ValueError(f"Point {p.name!r} needs cost >= 0 and a numeric accuracy; got {p}.")
    return out


def pareto_front(points: Sequence[CostPoint]) -> list[CostPoint]:
    """Points not dominated by another (no other is at least as accurate and cheaper, or more
    accurate at no more cost), by increasing cost."""
    pts = sorted(_points(points), key=lambda p: (p.cost, -p.accuracy))
    front: list[CostPoint] = []
    for p in pts:
        if not front or p.accuracy > front[-1].accuracy:
            front.append(p)
    return front


def accuracy_at_cost(points: Sequence[CostPoint], budget: float) -> CostPoint | None:
    """The most accurate point with ``cost <= budget`` (cheaper on ties), or None if none fits."""
    fits = [p for p in _points(points) if p.cost <= budget * (1 + 1e-6)]  # float32 means
    return min(fits, key=lambda p: (-p.accuracy, p.cost)) if fits else None


def cheapest_at_accuracy(points: Sequence[CostPoint], accuracy: float) -> CostPoint | None:
    """The cheapest point with ``accuracy >= accuracy`` (more accurate on ties), or None."""
    fits = [p for p in _points(points) if p.accuracy >= accuracy - 1e-6]
    return min(fits, key=lambda p: (p.cost, -p.accuracy)) if fits else None


def compare_at_equal_cost(
    candidates: Sequence[CostPoint], references: Sequence[CostPoint]
) -> list[dict[str, Any]]:
    """For each reference: the best candidate at equal cost and the cheapest at equal accuracy.

    Returns:
      One dict per reference with keys ``reference, ref_accuracy, ref_cost``,
      ``same_cost_name, same_cost_accuracy, same_cost_cost, accuracy_gain`` (None if no candidate
      is that cheap) and ``same_accuracy_name, same_accuracy_accuracy, same_accuracy_cost,
      speedup`` (``ref_cost / candidate cost``; None if no candidate is that accurate).
    """
    rows = []
    for ref in _points(references):
        row: dict[str, Any] = {
            "reference": ref.name,
            "ref_accuracy": ref.accuracy,
            "ref_cost": ref.cost,
        }
        a = accuracy_at_cost(candidates, ref.cost)
        row.update(
            same_cost_name=a and a.name,
            same_cost_accuracy=a and a.accuracy,
            same_cost_cost=a and a.cost,
            accuracy_gain=None if a is None else a.accuracy - ref.accuracy,
        )
        b = cheapest_at_accuracy(candidates, ref.accuracy)
        row.update(
            same_accuracy_name=b and b.name,
            same_accuracy_accuracy=b and b.accuracy,
            same_accuracy_cost=b and b.cost,
            speedup=None if b is None or b.cost == 0 else ref.cost / b.cost,
        )
        rows.append(row)
    return rows


def compound_scaling(
    phi: float, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15
) -> tuple[float, float, float]:
    """EfficientNet compound scaling: ``(depth, width, resolution) = (α^φ, β^φ, γ^φ)``.

    Example:
        >>> compound_scaling(0.0)
        (1.0, 1.0, 1.0)
    """
    return alpha**phi, beta**phi, gamma**phi


class Variant(NamedTuple):
    """A scaled variant of a base model: its multipliers, the built model and its input size."""

    name: str
    depth: float
    width: float
    resolution: float
    model: Any
    input_shape: tuple[int, ...]


def scaling_variants(
    make_model: Callable[[float, float], Any],
    base_input_shape: Sequence[int],
    *,
    depth: Sequence[float] = (1.0,),
    width: Sequence[float] = (1.0,),
    resolution: Sequence[float] = (1.0,),
) -> list[Variant]:
    """The grid of depth × width × resolution multipliers of a base model.

    Args:
      make_model: ``(depth_mult, width_mult) -> flax module`` (the caller decides how a multiplier
        maps to layers/channels, e.g. rounding); works for any Flax model.
      base_input_shape: one example's shape at resolution 1, ``(H, W, C)`` for images (the
        resolution multiplier scales ``H`` and ``W``) or any shape (then resolution must be 1).
      depth, width, resolution: the multipliers to combine.

    Returns:
      One :class:`Variant` per combination; count its FLOPs with :func:`efficient_jax.cost.macs`
      (see :func:`variant_flops`).

    Example:
        >>> import flax.linen as nn
        >>> vs = scaling_variants(lambda d, w: nn.Dense(int(8 * w)), (4, 4, 1), width=(1, 2),
        ...                       resolution=(1.0, 1.5))
        >>> [(v.name, v.input_shape) for v in vs][-1]
        ('d1-w2-r1.5', (6, 6, 1))
    """
    shape = tuple(int(s) for s in base_input_shape)
    out = []
    for d, w, r in itertools.product(depth, width, resolution):
        if min(d, w, r) <= 0:
            raise ValueError(f"Multipliers must be > 0; got depth={d}, width={w}, resolution={r}.")
        if r != 1 and len(shape) != 3:
            raise ValueError(
                f"A resolution multiplier needs an (H, W, C) input shape; got {shape}."
            )
        in_shape = shape if r == 1 else (round(shape[0] * r), round(shape[1] * r), shape[2])
        name = f"d{d:g}-w{w:g}-r{r:g}"
        out.append(Variant(name, float(d), float(w), float(r), make_model(d, w), in_shape))
    return out


def variant_flops(variant: Variant, key: Any) -> int:
    """Per-example FLOPs of a :class:`Variant` (initialises it on one zero input)."""
    x = jnp.zeros((1, *variant.input_shape), jnp.float32)
    variables = jax.eval_shape(variant.model.init, key, x)
    return macs(lambda v, a: variant.model.apply(v, a), variables, x).flops
