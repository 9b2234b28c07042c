"""BinaryBERT adaptive splitting: sensitivity scores and a 0/1 knapsack under a size budget.

Only some ternary matrices are split; the others become binary at half width. Each splittable
matrix ``z`` has a sensitivity ``u_z`` and an extra cost ``c_z`` (the bits a split adds), and the
split set solves (Eq. 5.12)

    max_s uᵀs   s.t.   cᵀs <= C − C_0,   s ∈ {0, 1}^Z

by dynamic programming over integer costs (:func:`knapsack`). Sensitivities follow §5.2.3: the
gain of a *part* type (MHA-QK, MHA-V, MHA-O, FFN-Mid, FFN-Out) or of a *layer*, each normalised
by its parameter count, summed per matrix (:func:`sensitivity_scores`); the embeddings and the
pooler are scored by their own gain.

Example:
    >>> value, chosen = knapsack([6.0, 10.0, 12.0], [1, 2, 3], capacity=5)
    >>> value, chosen
    (22.0, [1, 2])

References:
  Bai (2021), §5.2.3, Eq. 5.12 and Figs. 5.5-5.7.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

#: Part type of a tiny-BERT matrix (``layer_i/...`` path) for part-level sensitivities.
PARTS = ("MHA-QK", "MHA-V", "MHA-O", "FFN-Mid", "FFN-Out")
_PART_OF = {
    "attention/query": "MHA-QK",
    "attention/key": "MHA-QK",
    "attention/value": "MHA-V",
    "attention/output": "MHA-O",
    "intermediate": "FFN-Mid",
    "output": "FFN-Out",
}
_LAYER = re.compile(r"^layer_(\d+)/(.+)$")


def bert_module_group(name: str) -> tuple[str, int | None]:
    """``(part, layer index)`` of a tiny-BERT layer name; ``(name, None)`` outside the encoder.

    Example:
        >>> bert_module_group("layer_1/attention/key"), bert_module_group("word_embeddings")
        (('MHA-QK', 1), ('word_embeddings', None))
    """
    m = _LAYER.match(name)
    if not m or m.group(2) not in _PART_OF:
        return name, None
    return _PART_OF[m.group(2)], int(m.group(1))


def _check_knapsack(values: Sequence[float], costs: Sequence[int], capacity: int):
    v = np.asarray(values, np.float64)
    c = np.asarray(costs)
    if v.ndim != 1 or c.shape != v.shape:
        raise ValueError(f"values and costs must be 1-d of equal length; got {v.shape}, {c.shape}.")
    if not np.all(np.isfinite(v)):
        raise ValueError("knapsack values must be finite.")
    if not np.issubdtype(c.dtype, np.integer) or np.any(c < 0):
        raise ValueError(f"knapsack costs must be non-negative integers; got {list(costs)}.")
    if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or capacity < 0:
        raise ValueError(f"capacity must be a non-negative integer; got {capacity!r}.")
    return v, c.astype(np.int64)


def knapsack(
    values: Sequence[float], costs: Sequence[int], capacity: int
) -> tuple[float, list[int]]:
    """0/1 knapsack by dynamic programming: the best total value and the chosen indices.

    ``O(Z · capacity)`` time and memory. Items with a non-positive value are never chosen (they
    cannot raise the objective); ties keep the earlier solution.

    Args:
      values: the gain ``u_z`` of each item.
      costs: its non-negative integer cost ``c_z`` (quantize real costs first, e.g. to KB).
      capacity: the integer budget ``C − C_0``.

    Returns:
      ``(best value, sorted chosen indices)``.

    Raises:
      ValueError: mismatched/non-finite values, negative or non-integer costs or capacity.
    """
    v, c = _check_knapsack(values, costs, capacity)
    z = len(v)
    best = np.zeros((z + 1, capacity + 1))
    for i in range(z):
        best[i + 1] = best[i]
        if v[i] > 0 and c[i] <= capacity:
            cand = best[i, : capacity + 1 - c[i]] + v[i]
            best[i + 1, c[i] :] = np.maximum(best[i, c[i] :], cand)
    chosen, cap = [], capacity
    for i in range(z, 0, -1):
        if best[i, cap] != best[i - 1, cap]:
            chosen.append(i - 1)
            cap -= int(c[i - 1])
    return float(best[z, capacity]), sorted(chosen)


def brute_force_knapsack(
    values: Sequence[float], costs: Sequence[int], capacity: int
) -> tuple[float, list[int]]:
    """Exhaustive 0/1 knapsack (``2^Z`` subsets; ``Z <= 20``), the reference for tests."""
    v, c = _check_knapsack(values, costs, capacity)
    if len(v) > 20:
        raise ValueError(f"brute_force_knapsack enumerates 2^Z subsets; Z={len(v)} > 20.")
    best, chosen = 0.0, []
    for mask in range(1 << len(v)):
        idx = [i for i in range(len(v)) if mask >> i & 1]
        if c[idx].sum() <= capacity and v[idx].sum() > best:
            best, chosen = float(v[idx].sum()), idx
    return best, chosen


def sensitivity_scores(
    gains: Mapping[str, float], num_params: Mapping[str, int], names: Sequence[str]
) -> dict[str, float]:
    """Per-matrix sensitivity from part, layer and standalone gains (§5.2.3).

    Args:
      gains: measured gain (e.g. loss decrease when the group is kept at higher precision) for
        each part (``PARTS``), each layer (``"layer_i"``) and each matrix outside the encoder
        (``"word_embeddings"``, ``"pooler"``...).
      num_params: parameter count of each of those groups (same keys).
      names: the splittable matrices (``layer_i/...`` names and the others).

    Returns:
      ``{name: part_gain/#part + layer_gain/#layer}`` for encoder matrices and
      ``{name: gain/#params}`` for the others.

    Raises:
      ValueError: a group needed by ``names`` is missing from ``gains`` or ``num_params``, or
        has a non-positive parameter count.
    """
    out = {}
    for name in names:
        part, layer = bert_module_group(name)
        groups = [part] if layer is None else [part, f"layer_{layer}"]
        missing = [g for g in groups if g not in gains or g not in num_params]
        if missing:
            raise ValueError(f"sensitivity of {name!r} needs gains and sizes of {missing}.")
        if any(num_params[g] <= 0 for g in groups):
            raise ValueError(f"parameter counts must be positive for {groups}.")
        out[name] = float(sum(gains[g] / num_params[g] for g in groups))
    return out


def select_splits(
    sensitivity: Mapping[str, float],
    extra_cost: Mapping[str, float],
    budget: float,
    *,
    unit: float = 1.0,
) -> list[str]:
    """The matrices to split: knapsack over ``sensitivity`` with costs ``extra_cost`` / ``unit``.

    Costs are rounded up to whole units (so the chosen set never exceeds ``budget``); choose
    ``unit`` small enough that the rounding does not matter (e.g. 1 KB for MB budgets).
    """
    if unit <= 0 or budget < 0:
        raise ValueError(f"unit must be > 0 and budget >= 0; got unit={unit}, budget={budget}.")
    names = sorted(sensitivity)
    missing = [n for n in names if n not in extra_cost]
    if missing:
        raise ValueError(f"No extra_cost for {missing}.")
    costs = [int(np.ceil(extra_cost[n] / unit)) for n in names]
    _, chosen = knapsack([sensitivity[n] for n in names], costs, int(budget // unit))
    return [names[i] for i in chosen]
