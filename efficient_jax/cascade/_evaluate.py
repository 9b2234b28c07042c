"""Scoring chosen cascades and ensembles of a pool on another split of cached logits.

Thresholds and members are chosen on held-out logits (:mod:`._search`); the figures a paper
reports come from applying that choice, unchanged, to an evaluation split. Both functions take
the pool's logits ``[P, N, C]`` (or a list of ``[N, C]``) and per-example FLOPs ``[P]`` of all
members and pick out the members they need.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.cascade._search import select_cascade
    >>> held, test = (jax.random.normal(jax.random.key(i), (3, 32, 4)) for i in (0, 1))
    >>> y_h, y_t = jnp.zeros(32, jnp.int32), jnp.zeros(32, jnp.int32)
    >>> best, _ = select_cascade(held, y_h, [1.0, 2.0, 4.0], max_flops=3.0, max_models=2)
    >>> row = evaluate_candidate(test, y_t, [1.0, 2.0, 4.0], best)
    >>> row["num_models"] == len(best.members), row["worst_flops"] <= 6.0
    (True, True)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from jax.typing import ArrayLike

from efficient_jax.cascade._cascade import cascade_metrics, ensemble
from efficient_jax.cascade._search import CascadeCandidate


def _member_logits(logits, members: Sequence[int]) -> np.ndarray:
    if isinstance(logits, Sequence) and not isinstance(logits, str):
        return np.stack([np.asarray(logits[i]) for i in members])
    return np.asarray(logits)[list(members)]


def evaluate_candidate(
    logits: Sequence[ArrayLike] | ArrayLike,
    labels: ArrayLike,
    flops: Sequence[float] | ArrayLike,
    candidate: CascadeCandidate,
    *,
    metric: str = "max_prob",
    combine: str = "logits",
) -> dict[str, Any]:
    """Applies a searched cascade (members and thresholds, unchanged) to a split of pool logits.

    Args:
      logits: the pool's logits on the split, ``[P, N, C]`` or a list of ``[N, C]``.
      labels: ``[N]`` labels of the split.
      flops: ``[P]`` per-example FLOPs of every pool member.
      candidate: a :class:`CascadeCandidate` (e.g. from :func:`select_from_sweeps`).
      metric, combine: as used to search it (see :func:`~efficient_jax.cascade.cascade`).

    Returns:
      ``num_models``, ``thresholds`` (list), ``heldout_accuracy`` / ``heldout_avg_flops`` (the
      candidate's figures on the split it was chosen on), ``feasible``, and on this split
      ``accuracy``, ``avg_flops``, ``worst_flops`` and ``exit_fractions`` (list), as Python
      numbers.

    Raises:
      ValueError: for member indices outside the pool or mismatched shapes.

    Example:
        >>> import numpy as np
        >>> from efficient_jax.cascade._search import CascadeCandidate, ThresholdChoice
        >>> logits = np.array([[[2.0, 0.0], [0.0, 0.1]], [[0.0, 1.0], [0.0, 3.0]]])
        >>> cand = CascadeCandidate((0, 1), ThresholdChoice(np.array([0.8]), 1.0, 3.0, 5.0, True))
        >>> evaluate_candidate(logits, np.array([0, 1]), [1.0, 4.0], cand)["avg_flops"]
        3.0
    """
    idx = list(candidate.members)
    flops = np.asarray(flops, np.float64)
    if not idx or not set(idx) <= set(range(len(flops))):
        raise ValueError(f"Candidate members {idx} must index the {len(flops)} pool members.")
    m = cascade_metrics(
        _member_logits(logits, idx),
        labels,
        candidate.choice.thresholds,
        flops[idx],
        metric=metric,
        combine=combine,
    )
    return {
        "num_models": len(idx),
        "thresholds": [float(t) for t in candidate.choice.thresholds],
        "heldout_accuracy": candidate.choice.accuracy,
        "heldout_avg_flops": candidate.choice.avg_flops,
        "feasible": bool(candidate.choice.feasible),
        "accuracy": float(m["accuracy"]),
        "avg_flops": float(m["avg_flops"]),
        "worst_flops": float(m["worst_flops"]),
        "exit_fractions": [float(f) for f in m["exit_fractions"]],
    }


def ensemble_table(
    logits: Sequence[ArrayLike] | ArrayLike,
    labels: ArrayLike,
    flops: Sequence[float],
    max_models: int,
    *,
    combine: str = "logits",
) -> list[dict[str, Any]]:
    """Accuracy and FLOPs of every ensemble of 2..``max_models`` distinct pool members.

    Args:
      logits: the pool's logits, ``[P, N, C]`` or a list of ``[N, C]``.
      labels: ``[N]`` labels.
      flops: ``[P]`` per-example FLOPs of every member; an ensemble costs their sum.
      max_models: largest ensemble size, ``>= 2``.
      combine: how members are combined (see :func:`~efficient_jax.cascade.ensemble`).

    Returns:
      One dict per combination, by size then in ``itertools.combinations`` order:
      ``{"members": tuple of indices, "accuracy": float, "flops": float}``.

    Raises:
      ValueError: if ``max_models < 2`` or ``flops`` does not have one entry per member.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[[1.0, 0.0]], [[0.0, 3.0]], [[2.0, 0.0]]])
        >>> [(r["members"], r["accuracy"]) for r in ensemble_table(logits, [0], [1, 2, 3], 2)]
        [((0, 1), 0.0), ((0, 2), 1.0), ((1, 2), 0.0)]
    """
    num = len(logits)
    if len(flops) != num or max_models < 2:
        raise ValueError(
            f"Need one FLOPs value per member ({num}, got {len(flops)}) and max_models >= 2 "
            f"(got {max_models})."
        )
    labels = np.asarray(labels)
    rows = []
    for n in range(2, max_models + 1):
        for combo in itertools.combinations(range(num), n):
            ens = ensemble([logits[i] for i in combo], combine)
            rows.append(
                {
                    "members": combo,
                    "accuracy": float(np.mean(np.asarray(ens).argmax(-1) == labels)),
                    "flops": float(sum(flops[i] for i in combo)),
                }
            )
    return rows
