"""The quickstart's accuracy-vs-size plot: Pareto front, label spreading, a written PNG."""

import pytest

from efficient_jax.trainers._plots import (
    _crosses,
    plot_accuracy_vs_size,
    spread_labels,
    uncross_labels,
)


def _row(method, accuracy, kb):
    return {"method": method, "accuracy": accuracy, "model_kb": kb}


def test_plot_writes_png_and_returns_the_pareto_front(tmp_path):
    rows = [
        _row("float32", 0.972, 83.5),
        _row("ptq_w8", 0.972, 22.5),  # as accurate as float32, smaller: float32 is dominated
        _row("ptq_w4", 0.964, 12.2),
        _row("ptq_w4a8", 0.967, 12.2),  # same size, more accurate: ptq_w4 is dominated
        _row("bwn", 0.944, 6.4),
        _row("prune80", 0.519, 20.0),
        _row("kmeans", 0.825, 75.0),
    ]
    path = tmp_path / "plot.png"
    front = plot_accuracy_vs_size(rows, str(path))
    assert front == ["bwn", "ptq_w4a8", "ptq_w8"]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert plot_accuracy_vs_size([_row("only", 1.0, 1.0)], str(path)) == ["only"]
    with pytest.raises(ValueError, match="at least one row"):
        plot_accuracy_vs_size([], str(path))


def test_spread_labels_keeps_order_and_gap_and_moves_little():
    wish = [0.50, 0.51, 0.50, 0.90, 0.02, 0.01]
    ys = spread_labels(wish, 0.05, 0.0, 1.0)
    order = sorted(range(len(wish)), key=lambda i: wish[i])
    placed = [ys[i] for i in order]
    assert all(b - a >= 0.05 - 1e-9 for a, b in zip(placed, placed[1:]))
    assert 0.0 <= min(ys) and max(ys) <= 1.0
    assert ys[3] == pytest.approx(0.90)  # far from the others: not moved
    # The colliding run around 0.5 is centred on its wishes (least squares).
    assert sum(ys[i] for i in (0, 1, 2)) / 3 == pytest.approx(sum(wish[:3]) / 3)
    assert ys[4] == pytest.approx(0.05) and ys[5] == pytest.approx(0.0)  # clamped at the bottom
    # Too many labels for the range: the gap shrinks to fit.
    many = spread_labels([0.5] * 11, 0.5, 0.0, 1.0)
    assert min(many) == pytest.approx(0.0) and max(many) == pytest.approx(1.0)
    assert spread_labels([], 0.1) == []
    with pytest.raises(ValueError, match="gap > 0"):
        spread_labels([0.1], 0.0)


def test_uncross_labels_removes_crossings_and_keeps_positions():
    points = [(0.0, 0.0), (0.5, 0.5), (0.2, 0.9), (0.8, 0.1)]
    ys = [0.9, 0.1, 0.5, 0.7]  # 4 crossings
    out = uncross_labels(points, ys, 1.0)
    assert sorted(out) == sorted(ys)
    ends = [(1.0, y) for y in out]
    assert not any(
        _crosses(points[i], ends[i], points[j], ends[j]) for i in range(4) for j in range(i + 1, 4)
    )
