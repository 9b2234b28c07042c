import jax
import jax.numpy as jnp
import pytest

from efficient_jax.cost import LatencyStats, compare_latency, latency_ratio, measure_latency


def test_measure_latency_stats_are_ordered():
    calls = []

    def fn(x):
        calls.append(1)
        return x * 2

    stats = measure_latency(fn, jnp.ones(4), warmup=2, iters=5)
    assert isinstance(stats, LatencyStats)
    assert len(calls) == 7 and stats.iters == 5
    assert 0 < stats.p10 <= stats.median <= stats.p90
    assert stats.p10 <= stats.mean <= stats.p90 or stats.iters < 10
    assert "ms" in str(stats)


def test_measure_latency_jit_flag_traces_once():
    traces = []

    def fn(x):
        traces.append(1)
        return jnp.sin(x)

    measure_latency(fn, jnp.ones(4), warmup=1, iters=3, jit=True)
    assert len(traces) == 1


@pytest.mark.parametrize("kw", [dict(iters=0), dict(warmup=-1), dict(iters=2.0)])
def test_measure_latency_rejects_bad_counts(kw):
    with pytest.raises(ValueError):
        measure_latency(jnp.sin, jnp.ones(2), **kw)


def test_latency_ratio_orders_cheap_and_dear():
    x = jnp.ones((128, 128))
    cheap = jax.jit(lambda a: a + 1.0)
    dear = jax.jit(lambda a: jax.lax.fori_loop(0, 30, lambda _, b: jnp.tanh(b @ a), a))
    stats_a, stats_b = compare_latency(cheap, dear, x, warmup=1, iters=6)
    assert stats_a.iters == stats_b.iters == 6
    assert latency_ratio(cheap, dear, x, warmup=1, iters=6) < 1.0
