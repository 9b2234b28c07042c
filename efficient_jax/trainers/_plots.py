"""Plots written next to a run's results (matplotlib, Agg backend).

:func:`plot_accuracy_vs_size` draws every method as a point of accuracy against model size, the
accuracy–size Pareto front (:func:`efficient_jax.cost.pareto_front`) as a staircase, and the
method names in a column right of the axes, each joined to its point by a thin leader line and
spread vertically so that no two overlap however close the points are (front methods in bold).
"""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from efficient_jax import cost  # noqa: E402

_ACC_TICKS = (0, 20, 40, 50, 60, 70, 80, 85, 90, 92, 94, 95, 96, 97, 98, 98.5, 99, 99.5, 99.8)
_FONT_PT = 7.5  # label font size; the column spacing is 1.3 lines of it


def spread_labels(ys: list[float], gap: float, lo: float = 0.0, hi: float = 1.0) -> list[float]:
    """Label positions closest (least squares) to ``ys`` that are at least ``gap`` apart.

    Labels keep their order; a run of colliding labels is spaced ``gap`` apart around the mean
    of its wishes, and everything stays within ``[lo, hi]`` (``gap`` shrinks if they cannot
    fit).

    Example:
        >>> [round(y, 2) for y in spread_labels([0.5, 0.5, 0.9], 0.1)]
        [0.45, 0.55, 0.9]
    """
    n = len(ys)
    if n == 0:
        return []
    if gap <= 0 or hi < lo:
        raise ValueError(f"spread_labels needs gap > 0 and lo <= hi; got {gap}, [{lo}, {hi}].")
    if n > 1:
        gap = min(gap, (hi - lo) / (n - 1))
    order = sorted(range(n), key=lambda i: ys[i])
    clusters: list[tuple[float, list[int]]] = []  # (lowest label position, members in order)

    def place(members: list[int]) -> float:
        start = sum(ys[m] - j * gap for j, m in enumerate(members)) / len(members)
        return min(max(start, lo), hi - (len(members) - 1) * gap)

    for i in order:
        clusters.append((place([i]), [i]))
        while len(clusters) > 1:
            (s_a, a), (s_b, b) = clusters[-2], clusters[-1]
            if s_b - (s_a + (len(a) - 1) * gap) >= gap - 1e-12:
                break
            clusters[-2:] = [(place(a + b), a + b)]
    out = [0.0] * n
    for start, members in clusters:
        for j, m in enumerate(members):
            out[m] = start + j * gap
    return out


def _crosses(p, q, r, s) -> bool:
    """Whether segments ``p–q`` and ``r–s`` properly intersect."""

    def side(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def uncross_labels(points: list[tuple[float, float]], ys: list[float], x: float) -> list[float]:
    """Swaps neighbouring label positions while that removes leader-line crossings.

    Label ``i`` sits at ``(x, ys[i])`` and is joined to ``points[i]``; the set of positions is
    kept (so their spacing is too), only which label takes which position changes. Each swap
    lowers the total number of crossings, so the loop ends.

    Example:
        >>> uncross_labels([(0.0, 0.0), (0.5, 0.5)], [0.6, 0.4], 1.0)
        [0.4, 0.6]
    """
    ys = list(ys)
    n = len(ys)

    def crossings() -> int:
        ends = [(x, y) for y in ys]
        return sum(
            _crosses(points[i], ends[i], points[j], ends[j])
            for i in range(n)
            for j in range(i + 1, n)
        )

    total = crossings()
    improved = True
    while improved and total:
        improved = False
        order = sorted(range(n), key=lambda i: ys[i])
        for a, b in zip(order, order[1:]):
            ys[a], ys[b] = ys[b], ys[a]
            new = crossings()
            if new < total:
                total, improved = new, True
            else:
                ys[a], ys[b] = ys[b], ys[a]
    return ys


def plot_accuracy_vs_size(rows: list[dict], path: str) -> list[str]:
    """Accuracy (%) against model size (KB, log scale) with the Pareto front; writes ``path``.

    Args:
      rows: one dict per method with ``method``, ``accuracy`` (a fraction) and ``model_kb``.
      path: the image file to write (PNG).

    Returns:
      The methods on the accuracy–size Pareto front, by increasing size.

    Raises:
      ValueError: for no rows, or a row with a NaN accuracy or a negative size.
    """
    if not rows:
        raise ValueError("plot_accuracy_vs_size needs at least one row.")
    points = [cost.CostPoint(r["method"], 100 * r["accuracy"], r["model_kb"]) for r in rows]
    front = cost.pareto_front(points)
    on_front = {p.name for p in front}
    fig, ax = plt.subplots(figsize=(8.5, 5), dpi=130)
    fig.subplots_adjust(left=0.09, right=0.66, top=0.92, bottom=0.11)
    rest = [p for p in points if p.name not in on_front]
    if rest:
        ax.scatter(
            [p.cost for p in rest], [p.accuracy for p in rest], s=22, c="0.6", label="dominated"
        )
    ax.step(
        [p.cost for p in front],
        [p.accuracy for p in front],
        where="post",
        color="C0",
        lw=1.2,
        alpha=0.7,
    )
    ax.scatter(
        [p.cost for p in front],
        [p.accuracy for p in front],
        s=36,
        c="C0",
        zorder=3,
        label="Pareto front (accuracy vs size)",
    )
    ax.set_xscale("log")
    _error_log_scale(ax, [p.accuracy for p in points])
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("model size (KB, log scale)")
    ax.set_ylabel("test accuracy (%), error on a log scale")
    ax.set_title("Accuracy vs size")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="best", fontsize=8)
    _label_column(fig, ax, points, on_front)
    fig.savefig(path)
    plt.close(fig)
    return [p.name for p in front]


def _error_log_scale(ax, accuracies: list[float]) -> None:
    """Accuracy ticks on a log scale of the error ``100 − accuracy``: spreads the top methods."""
    top = min(99.9, max(accuracies, default=99.0) + 0.5)
    ax.set_yscale(
        "function",
        functions=(
            lambda a: -np.log10(np.maximum(100.0 - a, 100.0 - top)),
            lambda t: 100.0 - 10.0 ** (-t),
        ),
    )
    ticks = [t for t in _ACC_TICKS if t <= top and t >= min(accuracies, default=0.0) - 5]
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _label_column(fig, ax, points, on_front) -> None:
    """Method names right of the axes, spread apart, each joined to its point."""
    if not points:
        return
    fig.canvas.draw()  # fixes the axis limits
    to_axes = ax.transData + ax.transAxes.inverted()
    xy = [tuple(float(v) for v in to_axes.transform((p.cost, p.accuracy))) for p in points]
    height_px = ax.get_window_extent().height
    gap = 1.3 * _FONT_PT / 72 * fig.dpi / height_px
    ys = uncross_labels(xy, spread_labels([y for _, y in xy], gap, -0.05, 1.05), 1.03)
    for p, y in zip(points, ys, strict=True):
        front = p.name in on_front
        ax.annotate(
            f"{p.name}  {p.accuracy:.1f}%, {p.cost:.3g} KB",
            xy=(p.cost, p.accuracy),
            xytext=(1.03, y),
            textcoords="axes fraction",
            va="center",
            fontsize=_FONT_PT,
            fontweight="bold" if front else "normal",
            color="C0" if front else "0.25",
            annotation_clip=False,
            arrowprops={
                "arrowstyle": "-",
                "lw": 0.5,
                "color": "C0" if front else "0.7",
                "shrinkA": 1,
                "shrinkB": 3,
            },
        )
