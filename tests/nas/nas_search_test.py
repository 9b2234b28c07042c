"""Searchers: RS anchor (N+1)/2, WeakNAS beats RS, evolution/local/NA-RS/BO run, Pareto front."""

import jax
import numpy as np
import pytest

from efficient_jax.nas import benchmarks as nb
from efficient_jax.nas import search
from efficient_jax.nas.predictors import MLPPredictor, SklearnPredictor

SMALL = MLPPredictor(hidden=(16, 16), epochs=30)


class _View:
    maximize = True

    def __init__(self, values):
        self.values = np.asarray(values)

    def query(self, rows):
        return self.values[rows]


@pytest.fixture(scope="module")
def synth():
    table = nb.synthetic_nb201_table(jax.random.key(0), size=3125, noise=0.2)
    enc = nb.nb201_encodings(table)
    pool = search.Pool.from_nb201_ordinals(nb.nb201_ordinals(table), enc)
    return table, pool


def test_random_search_mean_samples_to_optimum():
    n = 200
    pool = search.Pool.from_encodings(np.eye(n, dtype=np.float32)[:, :8], k=2)
    values = np.arange(n, dtype=np.float64)
    hits = []
    for r in range(300):
        out = search.run_search(
            search.RandomSearch(pool, batch=10), _View(values), budget=n,
            key=jax.random.key(r), stop_rows=[n - 1],
        )  # fmt: skip
        hits.append(search.samples_to_reach(out["trace"], [n - 1]))
    # E = (N+1)/2 = 100.5, std of the mean ≈ 58/sqrt(300) ≈ 3.3.
    assert abs(np.mean(hits) - (n + 1) / 2) < 12


def test_weaknas_beats_random_search(synth):
    table, pool = synth
    vals = table.column("valid_acc")
    opt = search.optimal_rows(vals)
    traces = search.weaknas_batched(
        jax.random.key(0), pool.encodings, vals, runs=3, budget=200, m0=20, m=10, top_n=40,
        predictor=SMALL, stop_rows=opt, pad_to=256,
    )  # fmt: skip
    weak = [search.samples_to_reach(t, opt) or 400 for t in traces]
    # Random search needs (3125 + 1) / 2 ≈ 1563 samples in expectation.
    assert np.mean(weak) < 300


def test_ask_tell_weaknas_variants(synth):
    table, pool = synth
    vals = table.column("valid_acc")
    best_rs = []
    for r in range(3):
        out = search.run_search(
            search.RandomSearch(pool, batch=10), _View(vals), budget=40, key=jax.random.key(r)
        )
        best_rs.append(vals[out["trace"]].max())
    for kw in [
        dict(sampling="linear", top_over_all=True),
        dict(meta="local"),
        dict(meta="ei", ensemble=2),
    ]:
        s = search.WeakNAS(pool, predictor=SMALL, m0=20, m=10, top_n=40, **kw)
        out = search.run_search(s, _View(vals), budget=40, key=jax.random.key(1))
        assert len(set(out["trace"].tolist())) == 40
        assert vals[out["trace"]].max() >= np.mean(best_rs) - 0.5, kw
    assert 0 <= s.predicted_best() < len(pool)
    gb = search.WeakNAS(
        pool, predictor=SklearnPredictor("gbdt", {"n_estimators": 10}), m0=20, m=10, top_n=40
    )
    assert len(search.run_search(gb, _View(vals), budget=30, key=jax.random.key(2))["trace"]) == 30


def test_classic_searchers_and_constraint(synth):
    table, pool = synth
    vals, costs = table.column("valid_acc"), np.arange(len(pool)) % 7
    cpool = pool.constrain(costs, 3)
    for make in [
        lambda p: search.RegularizedEvolution(p),
        lambda p: search.LocalSearch(p),
        lambda p: search.NARS(p, n_nbr=5, aggregation="median"),
        lambda p: search.BayesOpt(p, n_init=5),
    ]:
        out = search.run_search(make(cpool), _View(vals), budget=20, key=jax.random.key(0),
                                record_at=[20])  # fmt: skip
        assert len(out["trace"]) == 20 and (costs[out["trace"]] <= 3).all()
        assert costs[out["returned"][20]] <= 3


def test_nars_aggregation_and_neighbourhood():
    n = 5**6
    pool = search.Pool.from_nb201_ordinals(np.arange(n), np.zeros((n, 1), np.float32))
    assert len(pool.neighborhood(0, 1)) == 25 and len(pool.neighborhood(0, 2)) == 265
    assert search.aggregate([3.0, 1.0, 2.0], "median") == 2.0
    with pytest.raises(ValueError, match="Unknown aggregation"):
        search.NARS(pool, aggregation="mode")


def test_pareto_and_bad_input(synth):
    _, pool = synth
    front = search.pareto_front(np.array([1.0, 3.0, 2.0, 3.0]), np.array([1.0, 2.0, 1.5, 5.0]))
    assert front.tolist() == [0, 2, 1]
    with pytest.raises(ValueError, match="top_n >= m"):
        search.WeakNAS(pool, m=10, top_n=5)
    with pytest.raises(ValueError, match="Unknown sampling"):
        search.WeakNAS(pool, sampling="cubic")
    with pytest.raises(ValueError, match="No architecture"):
        pool.constrain(np.ones(len(pool)), 0.5)


def test_metrics():
    assert search.samples_to_reach(np.array([5, 3, 9]), [9]) == 3
    assert search.samples_to_reach(np.array([5, 3]), [9]) is None
    sc = search.score_rows([0, 2], np.array([1.0, 3.0, 2.0]))
    assert sc["regret"].tolist() == [2.0, 1.0] and sc["rank"].tolist() == [3, 2]
    # Constrained: optimum and ranks among the feasible rows only (issue 18 item 1).
    feasible = np.array([True, False, True])
    sc = search.score_rows([0, 2], np.array([1.0, 3.0, 2.0]), allowed=feasible)
    assert sc["regret"].tolist() == [1.0, 0.0] and sc["rank"].tolist() == [2, 1]
    with pytest.raises(ValueError, match="allowed must have shape"):
        search.score_rows([0], np.array([1.0, 2.0]), allowed=np.ones(3, bool))
    s = search.summarize([{"a": 1.0}, {"a": 3.0}, {"a": None}])
    assert s == {"a_mean": 2.0, "a_std": 1.0, "a_missing": 1.0}
