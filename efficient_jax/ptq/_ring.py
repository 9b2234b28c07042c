"""A FIFO ring buffer of recent module outputs (the input queues of parallel MREM).

Parallel MREM (Bai 2021, thesis Ch. 4, Algorithm 2) keeps, between modules n-1 and n, the t0 most
recent outputs of module n-1; module n samples one entry uniformly with replacement instead of
waiting for its predecessor. The buffer is a pytree of fixed-shape arrays (``jit``/``shard_map``
safe): ``data`` with a leading capacity axis, the write position ``ptr`` and the fill ``count``.

Example:
    >>> import jax.numpy as jnp
    >>> buf = ring_init(3, jnp.zeros(()))
    >>> for v in range(5):
    ...     buf = ring_push(buf, jnp.float32(v))
    >>> ring_items(buf).tolist()  # oldest first; the capacity keeps the 3 most recent
    [2.0, 3.0, 4.0]
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def ring_init(capacity: int, example: Any) -> dict[str, Any]:
    """An empty buffer for ``capacity`` items shaped like ``example`` (a pytree).

    Raises:
      ValueError: ``capacity`` is not a positive integer.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"Ring buffer capacity must be a positive integer; got {capacity!r}.")
    data = jax.tree.map(lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.result_type(x)), example)
    return {"data": data, "ptr": jnp.zeros((), jnp.int32), "count": jnp.zeros((), jnp.int32)}


def ring_capacity(buf: dict[str, Any]) -> int:
    return jax.tree.leaves(buf["data"])[0].shape[0]


def ring_push(buf: dict[str, Any], item: Any, valid: Any = True) -> dict[str, Any]:
    """Appends ``item``, evicting the oldest when full (a no-op where ``valid`` is False)."""
    cap = ring_capacity(buf)
    valid = jnp.asarray(valid)
    ptr = buf["ptr"]
    data = jax.tree.map(
        lambda d, x: jnp.where(valid, d.at[ptr].set(jnp.asarray(x, d.dtype)), d), buf["data"], item
    )
    return {
        "data": data,
        "ptr": jnp.where(valid, (ptr + 1) % cap, ptr),
        "count": jnp.where(valid, jnp.minimum(buf["count"] + 1, cap), buf["count"]),
    }


def ring_sample(buf: dict[str, Any], key: jax.Array) -> Any:
    """One stored item chosen uniformly among the ``count`` filled slots (slot 0 when empty)."""
    slot = jax.random.randint(key, (), 0, jnp.maximum(buf["count"], 1))
    return jax.tree.map(lambda d: d[slot], buf["data"])


def ring_items(buf: dict[str, Any]) -> Any:
    """The stored items, oldest first (eager: the count must be concrete)."""
    cap, count = ring_capacity(buf), int(buf["count"])
    order = (int(buf["ptr"]) - count + jnp.arange(count)) % cap
    return jax.tree.map(lambda d: d[order], buf["data"])
