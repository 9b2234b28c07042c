"""Contract of every registered searcher (``nas.search.available_searchers()``).

On a small synthetic NB201-like table (no data files), each searcher: follows ask/tell (asks
return distinct, allowed, never-told row ids), never re-queries a cell, stops at the query budget,
is deterministic under a key, and resumes from its JSON-saved state to the same trajectory.
A new searcher is covered as soon as it is registered; give it small options in ``_OPTIONS`` if
its defaults are slow.
"""

import json

import jax
import numpy as np
import pytest

from efficient_jax.nas import benchmarks as nb
from efficient_jax.nas import search
from efficient_jax.nas.predictors import MLPPredictor

NAMES = search.available_searchers()
BUDGET = 30
# Small options so that the file runs in seconds; unlisted searchers use their defaults.
_OPTIONS = {
    "random": dict(batch=4),
    "weaknas": dict(predictor=MLPPredictor(hidden=(8,), epochs=5), m0=10, m=5, top_n=15),
    "nars": dict(n_nbr=4),
    "bo": dict(n_init=5, batch=2),
}


@pytest.fixture(scope="module")
def table():
    t = nb.synthetic_nb201_table(jax.random.key(0), size=625, noise=0.2)
    pool = search.Pool.from_nb201_ordinals(nb.nb201_ordinals(t), nb.nb201_encodings(t))
    pool = pool.restrict(np.arange(len(pool)) % 5 != 0)  # some cells may not be proposed
    return pool, np.asarray(t.column("valid_acc"), np.float64)


def _make(name, pool):
    return search.make_searcher(name, pool, **_OPTIONS.get(name, {}))


def _drive(searcher, values, key, *, budget=BUDGET, step=0, trace=None, stop_at=None):
    """``run_search``'s loop, checking every ask; returns ``(trace, next step)``."""
    trace = [] if trace is None else list(trace)
    empty = 0
    while len(trace) < (budget if stop_at is None else stop_at):
        rows = np.asarray(searcher.ask(jax.random.fold_in(key, step)))
        step += 1
        assert rows.ndim == 1 and np.issubdtype(rows.dtype, np.integer), rows
        assert len(set(rows.tolist())) == len(rows), f"duplicate rows in one ask: {rows}"
        assert searcher.pool.allowed[rows].all(), "proposed a row the pool does not allow"
        assert not set(rows.tolist()) & set(trace), "re-queried a told row"
        rows = rows[: budget - len(trace)]
        if rows.size == 0:
            empty += 1
            assert empty < 100, "searcher stopped proposing rows"
            continue
        searcher.tell(rows, values[rows])
        trace.extend(rows.tolist())
    return trace, step


def test_registry_lists_searcher_classes():
    assert {"random", "evolution", "local", "weaknas", "nars", "bo"} <= set(NAMES)
    assert all(issubclass(search.SEARCHERS[n], search.Searcher) for n in NAMES)
    with pytest.raises(ValueError, match="Unknown searcher 'evo'; valid: .*'evolution'"):
        search.make_searcher("evo", None)
    with pytest.raises(ValueError, match="Unknown option.*'populaton'.*allowed: .*'population'"):
        search.make_searcher("evolution", None, populaton=5)


@pytest.mark.parametrize("name", NAMES)
def test_ask_tell_budget_and_no_requery(name, table):
    pool, values = table
    s = _make(name, pool)
    trace, _ = _drive(s, values, jax.random.key(0))
    assert len(trace) == BUDGET == len(set(trace))
    assert s.rows == trace and s.queried.sum() == BUDGET
    row, score = s.best()
    assert pool.allowed[row] and np.isfinite(score)
    # run_search (the trainer's driver) gives the same trajectory and stops at the budget.
    out = search.run_search(_make(name, pool), _View(values), budget=BUDGET, key=jax.random.key(0))
    assert out["trace"].tolist() == trace


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_a_key(name, table):
    pool, values = table
    a, _ = _drive(_make(name, pool), values, jax.random.key(3))
    b, _ = _drive(_make(name, pool), values, jax.random.key(3))
    assert a == b


@pytest.mark.parametrize("name", NAMES)
def test_resumes_from_saved_state_to_the_same_trajectory(name, table):
    pool, values = table
    key = jax.random.key(1)
    whole = _make(name, pool)
    full, _ = _drive(whole, values, key)
    first = _make(name, pool)
    part, step = _drive(first, values, key, stop_at=BUDGET // 2)
    state = json.loads(json.dumps(first.state_dict()))  # a JSON round trip, as on disk
    resumed = _make(name, pool).load_state_dict(state)
    assert resumed.state_dict() == state and resumed.best() == first.best()
    rest, _ = _drive(resumed, values, key, step=step, trace=part)
    assert rest == full
    assert resumed.best() == whole.best() and resumed.state_dict() == whole.state_dict()
    with pytest.raises(ValueError, match="fresh searcher"):
        resumed.load_state_dict(state)


class _View:
    maximize = True

    def __init__(self, values):
        self.values = values

    def query(self, rows):
        return self.values[rows]
