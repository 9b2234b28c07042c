"""Threshold search and model selection for cascades, on held-out cached logits (Eq. 5.1).

Thresholds are chosen on a held-out split by grid search, for one of two targets:

- ``min_accuracy=γ``: the fewest average FLOPs whose accuracy is ``≥ γ`` (e.g. "match model X");
- ``max_flops=β``: the highest accuracy whose average FLOPs are ``≤ β``.

Candidate thresholds of stage k are quantiles of that stage's held-out confidences plus ``0``
(always exit) and ``inf`` (never exit); only distinct confidence values matter, so for a 2-model
cascade ``num=None`` (every distinct value) gives the exact optimum on the held-out split. Deeper
cascades search the product grid (``num`` values per stage), evaluated in jitted chunks.

Model selection (:func:`select_cascade`) searches every ordered tuple of pool members up to
``max_models`` long, with an optional worst-case FLOPs cap ``Σ_i F_i ≤ max_worst_flops``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> logits = jax.random.normal(jax.random.key(0), (2, 64, 3))
    >>> labels = jnp.zeros(64, jnp.int32)
    >>> table = stage_table(logits, jnp.array([1.0, 3.0]))
    >>> choice = search_thresholds(table, labels, max_flops=2.0)
    >>> bool(choice.feasible), float(choice.avg_flops) <= 2.0
    (True, True)

References:
    Wang et al., "Wisdom of Committees", ICLR 2022, https://arxiv.org/abs/2012.01988, Sec. 5.3-5.4.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from efficient_jax.cascade._cascade import (
    NEVER_EXIT,
    StageTable,
    exit_stages,
    stack_logits,
    stage_table,
)

_CHUNK = 256


def candidate_thresholds(confidence: ArrayLike, num: int | None) -> np.ndarray:
    """Sorted candidate thresholds for one stage: ``0``, confidence quantiles, ``inf``.

    Args:
      confidence: ``[N]`` held-out confidences of the stage.
      num: number of quantiles (``None``: every distinct confidence value, the exact set).
    """
    conf = np.asarray(confidence, np.float64)
    if num is None:
        inner = np.unique(conf)
    else:
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ValueError(f"num must be a positive int or None (all values); got {num!r}.")
        inner = np.unique(np.quantile(conf, np.linspace(0.0, 1.0, num)))
    inner = inner[(inner > 0) & (inner <= 1)]
    return np.concatenate([[0.0], inner, [NEVER_EXIT]]).astype(np.float32)


def threshold_grid(table: StageTable, num: int | None = None) -> np.ndarray:
    """The product grid ``[G, M-1]`` of :func:`candidate_thresholds` over the early stages.

    ``num=None`` picks a default that keeps ``G`` a few thousand: every distinct value for two
    models, 41 per stage for three, 13 for four, 7 for more.
    """
    m = table.confidence.shape[0]
    if m == 1:
        return np.zeros((1, 0), np.float32)
    if num is None and m > 2:
        num = {3: 41, 4: 13}.get(m, 7)
    axes = [candidate_thresholds(table.confidence[k], num) for k in range(m - 1)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([a.ravel() for a in mesh], axis=-1)


@jax.jit
def _grid_metrics(conf, pred, cum_flops, labels, grid):
    def one(t):
        stage = exit_stages(conf, t)
        p = jnp.take_along_axis(pred, stage[None], axis=0)[0]
        return jnp.mean((p == labels).astype(jnp.float32)), jnp.mean(cum_flops[stage])

    return jax.lax.map(one, grid, batch_size=_CHUNK)


def grid_metrics(
    table: StageTable, labels: ArrayLike, grid: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy ``[G]`` and average FLOPs ``[G]`` of the cascade at every grid row ``[G, M-1]``."""
    labels = jnp.asarray(labels)
    if labels.shape != table.prediction.shape[1:]:
        raise ValueError(
            f"labels must be [N] with N={table.prediction.shape[1]}; got {labels.shape}."
        )
    grid = jnp.asarray(grid, jnp.float32)
    if grid.ndim != 2 or grid.shape[1] != table.confidence.shape[0] - 1:
        raise ValueError(
            f"grid must be [G, M-1]; got {grid.shape} for M={table.confidence.shape[0]}."
        )
    if grid.shape[1] == 0:
        acc = jnp.mean((table.prediction[0] == labels).astype(jnp.float32))
        return np.full(grid.shape[0], float(acc)), np.full(grid.shape[0], float(table.cum_flops[0]))
    g = grid.shape[0]
    padded = -(-g // _CHUNK) * _CHUNK  # few distinct shapes: few compilations
    grid = jnp.concatenate([grid, jnp.broadcast_to(grid[-1:], (padded - g, grid.shape[1]))])
    acc, flops = _grid_metrics(table.confidence, table.prediction, table.cum_flops, labels, grid)
    return np.asarray(acc)[:g], np.asarray(flops)[:g]


class ThresholdChoice(NamedTuple):
    """The thresholds a search picked and their held-out figures.

    Attributes:
      thresholds: ``[M-1]`` chosen thresholds.
      accuracy: held-out accuracy at those thresholds.
      avg_flops: held-out average FLOPs.
      worst_flops: ``Σ_i F_i``.
      feasible: whether the target was met (if not: the most accurate point, resp. the cheapest).
    """

    thresholds: np.ndarray
    accuracy: float
    avg_flops: float
    worst_flops: float
    feasible: bool


def _check_target(min_accuracy, max_flops) -> None:
    if (min_accuracy is None) == (max_flops is None):
        raise ValueError(
            "Give exactly one target: min_accuracy (fewest FLOPs at accuracy >= it) or "
            f"max_flops (best accuracy at average FLOPs <= it); got min_accuracy={min_accuracy}, "
            f"max_flops={max_flops}."
        )
    if min_accuracy is not None and not 0.0 <= float(min_accuracy) <= 1.0:
        raise ValueError(f"min_accuracy must be a fraction in [0, 1]; got {min_accuracy}.")
    if max_flops is not None and not float(max_flops) >= 0:
        raise ValueError(f"max_flops must be >= 0; got {max_flops}.")


def pick(
    acc: np.ndarray,
    flops: np.ndarray,
    *,
    min_accuracy: float | None = None,
    max_flops: float | None = None,
) -> tuple[int, bool]:
    """Index of the best grid point for the target, and whether it is feasible.

    Ties break towards fewer FLOPs (accuracy target) or higher accuracy (FLOPs target), then
    towards the earlier grid point.
    """
    _check_target(min_accuracy, max_flops)
    acc, flops = np.asarray(acc, np.float64), np.asarray(flops, np.float64)
    eps = 1e-6  # accuracies are float32 means: 1e-6 < 1/N for any N < 1e6
    if min_accuracy is not None:
        ok = acc >= float(min_accuracy) - eps
        if ok.any():
            order = np.lexsort((-acc, np.where(ok, flops, np.inf)))
            return int(order[0]), True
        return int(np.lexsort((flops, -acc))[0]), False
    ok = flops <= float(max_flops) * (1 + 1e-7) + eps
    if ok.any():
        return int(np.lexsort((flops, np.where(ok, -acc, np.inf)))[0]), True
    return int(np.lexsort((-acc, flops))[0]), False


def search_thresholds(
    table: StageTable,
    labels: ArrayLike,
    *,
    min_accuracy: float | None = None,
    max_flops: float | None = None,
    num: int | None = None,
) -> ThresholdChoice:
    """Grid-searches the thresholds of one ordered cascade for a target (see module docstring).

    Args:
      table: :func:`~efficient_jax.cascade.stage_table` of the held-out logits.
      labels: ``[N]`` held-out labels.
      min_accuracy: accuracy target (fraction); exclusive with ``max_flops``.
      max_flops: average-FLOPs budget.
      num: candidates per stage (see :func:`threshold_grid`).

    Raises:
      ValueError: unless exactly one target is given, or for bad shapes.
    """
    _check_target(min_accuracy, max_flops)
    grid = threshold_grid(table, num)
    acc, flops = grid_metrics(table, labels, grid)
    i, ok = pick(acc, flops, min_accuracy=min_accuracy, max_flops=max_flops)
    return ThresholdChoice(grid[i], float(acc[i]), float(flops[i]), float(table.cum_flops[-1]), ok)


def ordered_subsets(
    pool_size: int, max_len: int, *, min_len: int = 1, repeat: bool = False
) -> Iterator[tuple[int, ...]]:
    """Ordered tuples of pool indices of length ``min_len..max_len``.

    ``repeat=False`` uses each member at most once (members are trained instances: repeating one
    adds nothing). ``repeat=True`` allows repeats (architectures, as counted by the thesis: 8
    architectures up to 4 long, lengths 2-4, give 8⁴ + 8³ + 8² = 4,672).

    Example:
        >>> sum(1 for _ in ordered_subsets(8, 4, min_len=2, repeat=True))
        4672
    """
    if pool_size < 1 or max_len < 1 or not 1 <= min_len <= max_len:
        raise ValueError(
            f"Need pool_size >= 1 and 1 <= min_len <= max_len; got pool_size={pool_size}, "
            f"min_len={min_len}, max_len={max_len}."
        )
    for n in range(min_len, max_len + 1):
        if repeat:
            yield from itertools.product(range(pool_size), repeat=n)
        else:
            yield from itertools.permutations(range(pool_size), n)


class CascadeCandidate(NamedTuple):
    """One searched cascade: its member indices and its threshold choice."""

    members: tuple[int, ...]
    choice: ThresholdChoice


class Sweep(NamedTuple):
    """Held-out accuracy and average FLOPs of one ordered cascade over its threshold grid.

    Attributes:
      members: pool indices, in cascade order.
      grid: ``[G, M-1]`` thresholds.
      accuracy: ``[G]`` held-out accuracy per grid row.
      avg_flops: ``[G]`` held-out average FLOPs per grid row.
      worst_flops: ``Σ_i F_i`` of the members.
    """

    members: tuple[int, ...]
    grid: np.ndarray
    accuracy: np.ndarray
    avg_flops: np.ndarray
    worst_flops: float


def sweep_members(
    logits: Sequence[ArrayLike] | ArrayLike,
    labels: ArrayLike,
    flops: ArrayLike,
    members: Sequence[int],
    *,
    num: int | None = None,
    metric: str = "max_prob",
    combine: str = "logits",
) -> Sweep:
    """The :class:`Sweep` of pool members ``members`` (in order); arguments as in
    :func:`select_cascade`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> logits = jax.random.normal(jax.random.key(0), (3, 16, 4))
        >>> s = sweep_members(logits, jnp.zeros(16, jnp.int32), [1.0, 2.0, 4.0], (2, 0))
        >>> s.members, s.worst_flops, s.grid.shape[1]
        ((2, 0), 5.0, 1)
    """
    pool, flops = stack_logits(logits), np.asarray(flops, np.float64)
    members = tuple(int(i) for i in members)
    if flops.shape != (pool.shape[0],) or not set(members) <= set(range(len(flops))) or not members:
        raise ValueError(
            f"Need [P] flops and member indices in [0, P), P={pool.shape[0]}; got flops "
            f"{flops.shape}, members {members}."
        )
    return _sweep(pool, labels, flops, members, num, metric, combine)


def _sweep(pool, labels, flops, members, num, metric, combine) -> Sweep:
    """:func:`sweep_members` on checked inputs (stacked logits, float64 FLOPs)."""
    table = stage_table(
        pool[jnp.asarray(members)], flops[list(members)], metric=metric, combine=combine
    )
    grid = threshold_grid(table, num)
    acc, cost = grid_metrics(table, labels, grid)
    return Sweep(members, grid, acc, cost, float(flops[list(members)].sum()))


def sweep_pool(
    logits: Sequence[ArrayLike] | ArrayLike,
    labels: ArrayLike,
    flops: ArrayLike,
    *,
    max_models: int = 3,
    min_models: int = 1,
    max_worst_flops: float | None = None,
    num: int | None = None,
    metric: str = "max_prob",
    combine: str = "logits",
) -> list[Sweep]:
    """Evaluates every ordered tuple of the pool over its threshold grid (once, for any target).

    Arguments are as in :func:`select_cascade`; pick targets afterwards with
    :func:`select_from_sweeps`.
    """
    pool = stack_logits(logits)
    flops = np.asarray(flops, np.float64)
    if flops.shape != (pool.shape[0],):
        raise ValueError(f"flops must be [P] with P={pool.shape[0]}; got {flops.shape}.")
    sweeps = []
    for members in ordered_subsets(pool.shape[0], max_models, min_len=min_models):
        if max_worst_flops is not None and float(flops[list(members)].sum()) > max_worst_flops:
            continue
        sweeps.append(_sweep(pool, labels, flops, members, num, metric, combine))
    if not sweeps:
        raise ValueError(
            f"No ordered tuple of {min_models}..{max_models} models fits max_worst_flops="
            f"{max_worst_flops}; the cheapest model costs {flops.min()}."
        )
    return sweeps


def select_from_sweeps(
    sweeps: Sequence[Sweep],
    *,
    min_accuracy: float | None = None,
    max_flops: float | None = None,
) -> tuple[CascadeCandidate, list[CascadeCandidate]]:
    """The best cascade of precomputed sweeps for a target (see :func:`select_cascade`)."""
    _check_target(min_accuracy, max_flops)
    candidates = []
    for s in sweeps:
        i, ok = pick(s.accuracy, s.avg_flops, min_accuracy=min_accuracy, max_flops=max_flops)
        choice = ThresholdChoice(
            s.grid[i], float(s.accuracy[i]), float(s.avg_flops[i]), s.worst_flops, ok
        )
        candidates.append(CascadeCandidate(s.members, choice))
    acc = np.array([c.choice.accuracy for c in candidates])
    cost = np.array([c.choice.avg_flops for c in candidates])
    feasible = np.array([c.choice.feasible for c in candidates])
    if feasible.any():
        # Feasible first; then fewest FLOPs (accuracy target) or highest accuracy (FLOPs target).
        keys = (-acc, cost) if min_accuracy is not None else (cost, -acc)
        order = np.lexsort((*keys, ~feasible))
    else:
        order = np.lexsort((cost, -acc)) if min_accuracy is not None else np.lexsort((-acc, cost))
    return candidates[int(order[0])], candidates


def select_cascade(
    logits: Sequence[ArrayLike] | ArrayLike,
    labels: ArrayLike,
    flops: ArrayLike,
    *,
    min_accuracy: float | None = None,
    max_flops: float | None = None,
    max_models: int = 3,
    min_models: int = 1,
    max_worst_flops: float | None = None,
    num: int | None = None,
    metric: str = "max_prob",
    combine: str = "logits",
) -> tuple[CascadeCandidate, list[CascadeCandidate]]:
    """Exhaustive model selection (Eq. 5.1) over ordered tuples of a pool, on held-out logits.

    Args:
      logits: pool logits ``[P, N, C]`` or a list of ``[N, C]`` (held-out split).
      labels: ``[N]`` held-out labels.
      flops: ``[P]`` per-example FLOPs of each pool member.
      min_accuracy / max_flops: the target, exactly one (see :func:`search_thresholds`).
      max_models / min_models: tuple lengths searched (1 = single models).
      max_worst_flops: drop tuples with ``Σ_i F_i`` above it (the thesis's worst-case guarantee).
      num: threshold candidates per stage.
      metric, combine: as in :func:`~efficient_jax.cascade.cascade`.

    Returns:
      ``(best, candidates)``: the best feasible candidate (fewest FLOPs, resp. highest accuracy;
      if none is feasible, the most accurate, resp. cheapest, infeasible one) and every
      candidate searched.

    Raises:
      ValueError: for a bad target, mismatched logits or no tuple within ``max_worst_flops``.
    """
    _check_target(min_accuracy, max_flops)
    sweeps = sweep_pool(
        logits,
        labels,
        flops,
        max_models=max_models,
        min_models=min_models,
        max_worst_flops=max_worst_flops,
        num=num,
        metric=metric,
        combine=combine,
    )
    return select_from_sweeps(sweeps, min_accuracy=min_accuracy, max_flops=max_flops)
