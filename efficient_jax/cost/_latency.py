"""Wall-clock latency of JAX functions, and latency ratios measured in one interleaved run.

Every timed call ends with :func:`jax.block_until_ready`, so asynchronous dispatch is not mistaken
for speed. Compilation happens in the warm-up calls. Compare two implementations with
:func:`latency_ratio` (or :func:`compare_latency`), which alternates their calls so that clock
boosts, thermal throttling and noisy neighbours hit both alike.

Example:
    >>> import jax.numpy as jnp
    >>> x = jnp.ones((64, 64))
    >>> stats = measure_latency(lambda a: a @ a, x, jit=True, warmup=1, iters=5)
    >>> stats.p10 <= stats.median <= stats.p90
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np


class LatencyStats(NamedTuple):
    """Per-call wall-clock times in seconds.

    Attributes:
      median: median time of a call.
      p10: 10th percentile.
      p90: 90th percentile.
      mean: arithmetic mean.
      iters: number of timed calls.
    """

    median: float
    p10: float
    p90: float
    mean: float
    iters: int

    @classmethod
    def from_times(cls, times: Any) -> LatencyStats:
        t = np.asarray(times, dtype=np.float64)
        p10, median, p90 = np.percentile(t, [10, 50, 90])
        return cls(float(median), float(p10), float(p90), float(t.mean()), int(t.size))

    def __str__(self) -> str:
        return (
            f"median {self.median * 1e3:.3f} ms (p10 {self.p10 * 1e3:.3f}, "
            f"p90 {self.p90 * 1e3:.3f}, mean {self.mean * 1e3:.3f}; n={self.iters})"
        )


def _check(warmup: int, iters: int) -> None:
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0; got {warmup!r}.")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be an int >= 1; got {iters!r}.")


def _timed_call(fn: Callable[..., Any], args: tuple[Any, ...]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def measure_latency(
    fn: Callable[..., Any], *args: Any, warmup: int = 3, iters: int = 20, jit: bool = False
) -> LatencyStats:
    """Times ``fn(*args)`` ``iters`` times after ``warmup`` untimed calls.

    Args:
      fn: the function; jit it yourself (so you choose static args, donation, shardings) or pass
        ``jit=True``. Do not donate ``args``: they are reused for every call.
      *args: its arguments, already on device (transfers would be timed otherwise).
      warmup: untimed calls first (compilation, caches).
      iters: timed calls.
      jit: wrap ``fn`` in :func:`jax.jit` first.

    Returns:
      :class:`LatencyStats` in seconds.

    Raises:
      ValueError: if ``warmup < 0`` or ``iters < 1``.

    Example:
        >>> import jax.numpy as jnp
        >>> measure_latency(jnp.sin, jnp.ones(8), jit=True, iters=3).iters
        3
    """
    _check(warmup, iters)
    if jit:
        fn = jax.jit(fn)
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    return LatencyStats.from_times([_timed_call(fn, args) for _ in range(iters)])


def compare_latency(
    fn_a: Callable[..., Any],
    fn_b: Callable[..., Any],
    *args: Any,
    warmup: int = 3,
    iters: int = 20,
    jit: bool = False,
) -> tuple[LatencyStats, LatencyStats]:
    """Times two functions on the same arguments, interleaved in one run.

    Warm-up calls of both come first; then each round calls both, alternating which goes first.
    Arguments are as in :func:`measure_latency`.

    Returns:
      ``(stats_a, stats_b)``.

    Example:
        >>> import jax.numpy as jnp
        >>> a, b = compare_latency(jnp.sin, jnp.cos, jnp.ones(8), jit=True, iters=4)
        >>> a.iters, b.iters
        (4, 4)
    """
    _check(warmup, iters)
    if jit:
        fn_a, fn_b = jax.jit(fn_a), jax.jit(fn_b)
    for _ in range(warmup):
        jax.block_until_ready(fn_a(*args))
        jax.block_until_ready(fn_b(*args))
    times_a, times_b = [], []
    for i in range(iters):
        if i % 2 == 0:
            times_a.append(_timed_call(fn_a, args))
            times_b.append(_timed_call(fn_b, args))
        else:
            times_b.append(_timed_call(fn_b, args))
            times_a.append(_timed_call(fn_a, args))
    return LatencyStats.from_times(times_a), LatencyStats.from_times(times_b)


def latency_ratio(
    fn_a: Callable[..., Any],
    fn_b: Callable[..., Any],
    *args: Any,
    warmup: int = 3,
    iters: int = 20,
    jit: bool = False,
) -> float:
    """Median latency of ``fn_a`` divided by that of ``fn_b``, measured interleaved in one run.

    A value below 1 means ``fn_a`` is faster (the ``<ours>_vs_<baseline>_ratio`` convention of the
    benchmarks: pass ours as ``fn_a``). Arguments are as in :func:`compare_latency`; use that
    function when you also want the absolute times.

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.ones((32, 32))
        >>> latency_ratio(lambda a: a @ a, lambda a: a @ a @ a, x, jit=True, iters=5) > 0
        True
    """
    stats_a, stats_b = compare_latency(fn_a, fn_b, *args, warmup=warmup, iters=iters, jit=jit)
    return stats_a.median / stats_b.median
