"""Tests for sweep_members, evaluate_candidate and ensemble_table (pool-level helpers)."""

import itertools

import jax
import numpy as np
import pytest

from efficient_jax import cascade


@pytest.fixture
def pool():
    logits = np.asarray(jax.random.normal(jax.random.key(0), (3, 40, 4)) * 2.0)
    labels = np.asarray(jax.random.randint(jax.random.key(1), (40,), 0, 4))
    return logits, labels, np.array([1.0, 3.0, 9.0])


def test_sweep_members_matches_sweep_pool(pool):
    logits, labels, flops = pool
    sweeps = cascade.sweep_pool(logits, labels, flops, max_models=2, num=5)
    for s in sweeps:
        one = cascade.sweep_members(list(logits), labels, flops, s.members, num=5)
        assert one.members == s.members and one.worst_flops == s.worst_flops
        for a, b in zip(one[1:4], s[1:4], strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="members"):
        cascade.sweep_members(logits, labels, flops, (0, 3))


def test_evaluate_candidate_matches_cascade_metrics(pool):
    logits, labels, flops = pool
    cand, _ = cascade.select_cascade(logits, labels, flops, min_accuracy=0.3, max_models=3)
    row = cascade.evaluate_candidate(list(logits), labels, flops, cand, metric="top2_gap")
    idx = list(cand.members)
    m = cascade.cascade_metrics(
        logits[idx], labels, cand.choice.thresholds, flops[idx], metric="top2_gap"
    )
    assert row["num_models"] == len(idx) and row["feasible"] == bool(cand.choice.feasible)
    assert row["accuracy"] == float(m["accuracy"]) and row["avg_flops"] == float(m["avg_flops"])
    assert row["exit_fractions"] == [float(f) for f in m["exit_fractions"]]
    assert row["heldout_accuracy"] == cand.choice.accuracy
    same = cascade.evaluate_candidate(logits, labels, flops, cand, metric="top2_gap")
    assert same == row
    with pytest.raises(ValueError, match="members"):
        cascade.evaluate_candidate(logits, labels, flops[:1], cand)


def test_ensemble_table(pool):
    logits, labels, flops = pool
    rows = cascade.ensemble_table(list(logits), labels, list(flops), 3)
    combos = [c for n in (2, 3) for c in itertools.combinations(range(3), n)]
    assert [r["members"] for r in rows] == combos
    for r in rows:
        ens = np.asarray(cascade.ensemble([logits[i] for i in r["members"]]))
        assert r["accuracy"] == float(np.mean(ens.argmax(-1) == labels))
        assert r["flops"] == float(sum(flops[i] for i in r["members"]))
    with pytest.raises(ValueError, match="max_models"):
        cascade.ensemble_table(logits, labels, list(flops), 1)
