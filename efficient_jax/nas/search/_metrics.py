"""Scores of a search trace: samples until the optimum, test regret and rank at budgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def samples_to_reach(trace: np.ndarray, targets: Sequence[int]) -> int | None:
    """1-based position in ``trace`` of the first row among ``targets`` (None if never)."""
    hit = np.flatnonzero(np.isin(np.asarray(trace), np.asarray(targets)))
    return int(hit[0]) + 1 if hit.size else None


def optimal_rows(values: np.ndarray, *, maximize: bool = True) -> np.ndarray:
    """All rows attaining the best finite value (ties count as optimal)."""
    v = np.asarray(values, np.float64)
    best = np.nanmax(v) if maximize else np.nanmin(v)
    return np.flatnonzero(v == best)


def score_rows(
    rows: Sequence[int],
    report: np.ndarray,
    *,
    maximize: bool = True,
    allowed: np.ndarray | None = None,
) -> dict:
    """Test regret (≥ 0) and rank (1 = optimum) of returned ``rows`` by the report metric.

    Args:
      rows: the returned rows.
      report: the report metric of every row (NaN = missing).
      maximize: whether larger is better.
      allowed: optional boolean mask of the feasible rows (a constrained search): the optimum and
        the ranks are then taken among these rows only. ``None``: every row with a value.

    Raises:
      ValueError: if ``allowed`` has the wrong shape or leaves no row with a report value.

    Example:
        >>> sc = score_rows([2], np.array([1.0, 3.0, 2.0]), allowed=np.array([1, 0, 1], bool))
        >>> float(sc["regret"][0]), int(sc["rank"][0])
        (0.0, 1)
    """
    rep = np.asarray(report, np.float64)
    ok = np.isfinite(rep)
    if allowed is not None:
        allowed = np.asarray(allowed, bool)
        if allowed.shape != rep.shape:
            raise ValueError(f"allowed must have shape {rep.shape}, got {allowed.shape}.")
        ok &= allowed
        if not ok.any():
            raise ValueError("allowed leaves no row with a report value.")
    finite = rep[ok]
    best = finite.max() if maximize else finite.min()
    rows = np.asarray(rows, np.int64)
    vals = rep[rows]
    regret = (best - vals) if maximize else (vals - best)
    better = (finite[None] > vals[:, None]) if maximize else (finite[None] < vals[:, None])
    return {"regret": regret, "rank": better.sum(1) + 1, "report": vals}


def best_so_far(
    trace: np.ndarray,
    search: np.ndarray,
    report: np.ndarray,
    budgets: Sequence[int],
    *,
    maximize=True,
) -> np.ndarray:
    """Row with the best search value among the first ``b`` queries, for each budget ``b``."""
    trace = np.asarray(trace)
    trace = trace[trace >= 0]
    s = np.asarray(search, np.float64)[trace]
    s = s if maximize else -s
    out = []
    for b in budgets:
        b = min(int(b), len(trace))
        out.append(int(trace[int(np.argmax(s[:b]))]))
    return np.array(out, np.int64)


def summarize(runs: Sequence[Mapping[str, float | None]]) -> dict[str, float]:
    """Mean and std over runs of every key; ``None`` values are counted in ``<key>_missing``."""
    keys = sorted({k for r in runs for k in r})
    out = {}
    for k in keys:
        vals = [r.get(k) for r in runs]
        nums = np.array([v for v in vals if v is not None], np.float64)
        if nums.size:
            out[f"{k}_mean"] = float(nums.mean())
            out[f"{k}_std"] = float(nums.std())
        missing = sum(v is None for v in vals)
        if missing:
            out[f"{k}_missing"] = float(missing)
    return out
