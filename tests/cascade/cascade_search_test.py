"""Threshold search and model selection against brute force on small pools."""

import itertools

import numpy as np
import pytest

from efficient_jax import cascade


def _pool(m=4, n=120, c=4, seed=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    logits = np.stack(
        [1.5 * (k + 1) * np.eye(c)[labels] + 2.0 * rng.normal(size=(n, c)) for k in range(m)]
    ).astype(np.float32)
    flops = np.array([1.0, 3.0, 9.0, 27.0][:m])
    return logits, labels, flops


def _brute(logits, labels, flops, members, grid):
    """Reference: plain NumPy loop over examples, per grid point."""
    sub = logits[list(members)]
    f = np.cumsum(flops[list(members)])
    res = []
    for t in grid:
        correct, cost = 0, 0.0
        for i in range(sub.shape[1]):
            total = np.zeros(sub.shape[2])
            for k in range(len(members)):
                total = total + sub[k, i]
                mean = total / (k + 1)
                p = np.exp(mean - mean.max())
                p /= p.sum()
                if k == len(members) - 1 or p.max() >= t[k] - 1e-6:  # float32 vs 64
                    correct += int(mean.argmax() == labels[i])
                    cost += f[k]
                    break
        res.append((correct / sub.shape[1], cost / sub.shape[1]))
    return np.array(res)


def test_grid_metrics_match_brute_force():
    logits, labels, flops = _pool(m=3)
    table = cascade.stage_table(logits, flops)
    grid = cascade.threshold_grid(table, num=5)
    acc, cost = cascade.grid_metrics(table, labels, grid)
    ref = _brute(logits, labels, flops, (0, 1, 2), grid)
    np.testing.assert_allclose(acc, ref[:, 0], atol=1e-6)
    np.testing.assert_allclose(cost, ref[:, 1], rtol=1e-5)


def test_two_model_search_is_exact_optimum():
    logits, labels, flops = _pool(m=2)
    table = cascade.stage_table(logits, flops)
    grid = cascade.threshold_grid(table)  # every distinct confidence value
    assert grid.shape[0] == len(np.unique(np.asarray(table.confidence[0]))) + 2
    ref = _brute(logits, labels, flops, (0, 1), grid)
    target = ref[:, 0].max() - 0.02
    choice = cascade.search_thresholds(table, labels, min_accuracy=target)
    feasible = ref[ref[:, 0] >= target - 1e-9]
    assert choice.feasible
    assert choice.avg_flops == pytest.approx(feasible[:, 1].min(), rel=1e-5)
    budget = 2.0
    choice = cascade.search_thresholds(table, labels, max_flops=budget)
    assert choice.accuracy == pytest.approx(ref[ref[:, 1] <= budget + 1e-6, 0].max())


def test_infeasible_target_reported():
    logits, labels, flops = _pool(m=2)
    table = cascade.stage_table(logits, flops)
    choice = cascade.search_thresholds(table, labels, min_accuracy=1.0)
    assert not choice.feasible or choice.accuracy == 1.0
    choice = cascade.search_thresholds(table, labels, max_flops=0.5)
    assert not choice.feasible and choice.avg_flops == pytest.approx(flops[0])


def test_selection_matches_brute_force():
    logits, labels, flops = _pool(m=3, n=80)
    num = 4
    target = 0.8
    best, cands = cascade.select_cascade(
        logits, labels, flops, min_accuracy=target, max_models=3, num=num
    )
    assert len(cands) == 3 + 6 + 6
    rows = []
    for members in itertools.permutations(range(3), 1):
        rows.append((members, np.mean(logits[members[0]].argmax(-1) == labels), flops[members[0]]))
    for n in (2, 3):
        for members in itertools.permutations(range(3), n):
            table = cascade.stage_table(logits[list(members)], flops[list(members)])
            grid = cascade.threshold_grid(table, num=num)
            for acc, cost in _brute(logits, labels, flops, members, grid):
                rows.append((members, acc, cost))
    feasible = [r for r in rows if r[1] >= target - 1e-9]
    ref = min(feasible, key=lambda r: (r[2], -r[1]))
    assert best.choice.feasible
    assert best.choice.avg_flops == pytest.approx(ref[2], rel=1e-5)
    assert best.choice.accuracy >= target


def test_worst_case_constraint_and_flops_target():
    logits, labels, flops = _pool(m=3, n=80)
    best, cands = cascade.select_cascade(
        logits, labels, flops, max_flops=5.0, max_models=2, max_worst_flops=10.0, num=4
    )
    assert all(flops[list(c.members)].sum() <= 10.0 for c in cands)
    assert best.choice.avg_flops <= 5.0 + 1e-6
    with pytest.raises(ValueError, match="max_worst_flops"):
        cascade.select_cascade(logits, labels, flops, max_flops=5.0, max_worst_flops=0.1)


def test_ordered_subset_count_and_errors():
    assert sum(1 for _ in cascade.ordered_subsets(8, 4, min_len=2, repeat=True)) == 4672
    assert sum(1 for _ in cascade.ordered_subsets(4, 2)) == 4 + 12
    with pytest.raises(ValueError, match="min_len"):
        list(cascade.ordered_subsets(3, 2, min_len=3))


def test_target_errors():
    logits, labels, flops = _pool(m=2)
    table = cascade.stage_table(logits, flops)
    with pytest.raises(ValueError, match="exactly one target"):
        cascade.search_thresholds(table, labels)
    with pytest.raises(ValueError, match="exactly one target"):
        cascade.search_thresholds(table, labels, min_accuracy=0.5, max_flops=1.0)
    with pytest.raises(ValueError, match="fraction"):
        cascade.search_thresholds(table, labels, min_accuracy=80.0)
    with pytest.raises(ValueError, match="num"):
        cascade.threshold_grid(table, num=0)
