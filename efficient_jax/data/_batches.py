"""Deterministic, resumable batch iteration over in-memory arrays, placed on a mesh when given.

The batch of global step ``s`` depends only on ``(arrays, batch_size, seed, s)``: epoch
``e = s // steps_per_epoch`` uses the permutation ``np.random.default_rng([seed, e])`` and the
remainder (``N % batch_size`` examples) is dropped. A resumed run (``start_step=k``) therefore sees
exactly the batches an uninterrupted run sees from step ``k`` on.

Example:
    >>> import numpy as np
    >>> data = {"x": np.arange(10), "y": np.arange(10) * 2}
    >>> batches = list(iterate_batches(data, 4, seed=0, num_steps=3))
    >>> [b["x"].shape for b in batches]
    [(4,), (4,), (4,)]
    >>> np.array_equal(batches[2]["x"], batch_at(data, 2, 4, seed=0)["x"])
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh

from efficient_jax.parallel import DATA_AXIS, shard_batch


def _num_examples(arrays: Mapping[str, Any]) -> int:
    if not isinstance(arrays, Mapping) or not arrays:
        raise ValueError(f"arrays must be a non-empty dict of arrays; got {type(arrays).__name__}.")
    lengths = {k: (np.shape(v)[0] if np.ndim(v) else None) for k, v in arrays.items()}
    if any(n is None for n in lengths.values()):
        raise ValueError(f"Every array needs a leading (example) axis; leading lengths: {lengths}.")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"All arrays must have the same leading length; got {lengths}.")
    n = next(iter(lengths.values()))
    if n == 0:
        raise ValueError(f"arrays hold no examples (leading lengths {lengths}).")
    return n


def _check_batch_size(batch_size: int, n: int, *, allow_larger: bool = False) -> None:
    if not isinstance(batch_size, int | np.integer) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    if batch_size > n and not allow_larger:
        raise ValueError(f"batch_size {batch_size} exceeds the number of examples {n}.")


def _check_nonneg(name: str, value: Any) -> int:
    if not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)


def _check_mesh(mesh: Mesh | None, batch_size: int) -> None:
    if mesh is None:
        return
    if DATA_AXIS not in mesh.shape:
        raise ValueError(f"mesh has axes {tuple(mesh.shape)}; batches need a {DATA_AXIS!r} axis.")
    if batch_size % mesh.shape[DATA_AXIS]:
        raise ValueError(
            f"batch_size {batch_size} must be a multiple of the {mesh.shape[DATA_AXIS]} devices on "
            f"mesh axis {DATA_AXIS!r}."
        )


def steps_per_epoch(arrays: Mapping[str, Any], batch_size: int) -> int:
    """Number of full batches per epoch, ``N // batch_size`` (the remainder is dropped)."""
    n = _num_examples(arrays)
    _check_batch_size(batch_size, n)
    return n // int(batch_size)


def _epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray | None:
    return np.random.default_rng([seed, epoch]).permutation(n) if shuffle else None


def _rows(order: np.ndarray | None, i: int, batch_size: int) -> np.ndarray | slice:
    lo, hi = i * batch_size, (i + 1) * batch_size
    return slice(lo, hi) if order is None else order[lo:hi]


def batch_at(
    arrays: Mapping[str, Any],
    step: int,
    batch_size: int,
    *,
    seed: int,
    shuffle: bool = True,
    remainder: str = "drop",
) -> dict[str, np.ndarray]:
    """Returns the host batch of global step ``step`` (pure function of its arguments).

    Every process computes the same global batch; :func:`iterate_batches` / :func:`eval_batches`
    with a mesh give each process its slice.

    Args:
      arrays: dict of host arrays sharing the leading length ``N``.
      step: global training step, ``>= 0`` (it may run past one epoch).
      batch_size: examples per batch, ``1 <= batch_size <= N`` (any size with ``"wrap"``).
      seed: non-negative shuffling seed.
      shuffle: permute examples each epoch; ``False`` walks them in order.
      remainder: ``"drop"`` (the module's scheme: ``N // batch_size`` batches per epoch, the
        last ``N % batch_size`` examples of each epoch's order unused) or ``"wrap"``: the batch
        covers positions ``step * batch_size ...`` of a stream of epochs; epoch
        ``e = step * batch_size // N`` (that of the batch's first position) is permuted by
        ``np.random.default_rng([seed, e])``, and positions past its end wrap around to the
        start of that same permutation.

    Returns:
      Dict with the same keys, each ``(batch_size, ...)`` NumPy arrays.

    Raises:
      ValueError: for a bad batch size, step or seed, or arrays of different leading lengths.

    Example:
        >>> import numpy as np
        >>> batch_at({"x": np.arange(6)}, 3, 2, seed=0, shuffle=False)["x"].tolist()
        [0, 1]
        >>> b = batch_at({"x": np.arange(5)}, 2, 2, seed=0, shuffle=False, remainder="wrap")
        >>> b["x"].tolist()
        [4, 0]
    """
    if remainder not in ("drop", "wrap"):
        raise ValueError(f"remainder must be 'drop' or 'wrap'; got {remainder!r}.")
    n = _num_examples(arrays)
    _check_batch_size(batch_size, n, allow_larger=remainder == "wrap")
    step, seed = _check_nonneg("step", step), _check_nonneg("seed", seed)
    if remainder == "wrap":
        epoch, pos = divmod(step * int(batch_size), n)
        order = _epoch_order(n, seed, epoch, shuffle)
        rows = (pos + np.arange(int(batch_size))) % n
        rows = rows if order is None else order[rows]
    else:
        epoch, i = divmod(step, n // int(batch_size))
        rows = _rows(_epoch_order(n, seed, epoch, shuffle), i, int(batch_size))
    return {k: np.asarray(v)[rows] for k, v in arrays.items()}


def _place(batch: dict[str, np.ndarray], mesh: Mesh | None) -> dict[str, Any]:
    if mesh is None:
        return batch
    if jax.process_count() > 1:
        # Every host computes the same global batch; each contributes its own contiguous slice.
        pc, pi = jax.process_count(), jax.process_index()
        batch = {k: np.array_split(v, pc)[pi] for k, v in batch.items()}
    return shard_batch(batch, mesh)


def iterate_batches(
    arrays: Mapping[str, Any],
    batch_size: int,
    *,
    seed: int,
    start_step: int = 0,
    num_steps: int | None = None,
    shuffle: bool = True,
    mesh: Mesh | None = None,
) -> Iterator[dict[str, Any]]:
    """Yields the batches of steps ``start_step``, ``start_step + 1``, … as :func:`batch_at` does.

    Args:
      arrays: dict of arrays sharing the leading length ``N`` (converted to NumPy once).
      batch_size: global batch size, ``1 <= batch_size <= N``; a multiple of the ``data`` axis size
        when ``mesh`` is given.
      seed: non-negative shuffling seed.
      start_step: first global step (resume from a checkpoint's step).
      num_steps: how many batches to yield; ``None`` iterates forever.
      shuffle: permute examples each epoch.
      mesh: when given, batches are ``jax.Array`` values with the batch axis sharded over
        ``"data"``; otherwise host NumPy arrays.

    Raises:
      ValueError: (at the call, before any batch) for bad sizes, steps, seed or mesh.

    Example:
        >>> import numpy as np
        >>> data = {"x": np.arange(8)}
        >>> full = [b["x"] for b in iterate_batches(data, 2, seed=1, num_steps=6)]
        >>> tail = [b["x"] for b in iterate_batches(data, 2, seed=1, start_step=4, num_steps=2)]
        >>> all(np.array_equal(a, b) for a, b in zip(full[4:], tail))
        True
    """
    arrays = (
        {k: np.asarray(v) for k, v in arrays.items()} if isinstance(arrays, Mapping) else arrays
    )
    n = _num_examples(arrays)
    _check_batch_size(batch_size, n)
    seed, start_step = _check_nonneg("seed", seed), _check_nonneg("start_step", start_step)
    if num_steps is not None:
        num_steps = _check_nonneg("num_steps", num_steps)
    _check_mesh(mesh, int(batch_size))
    return _iterate(arrays, n, int(batch_size), seed, start_step, num_steps, shuffle, mesh)


def _iterate(arrays, n, batch_size, seed, start_step, num_steps, shuffle, mesh):
    spe = n // batch_size
    step, order, order_epoch = start_step, None, None
    while num_steps is None or step < start_step + num_steps:
        epoch, i = divmod(step, spe)
        if epoch != order_epoch:
            order, order_epoch = _epoch_order(n, seed, epoch, shuffle), epoch
        rows = _rows(order, i, batch_size)
        yield _place({k: v[rows] for k, v in arrays.items()}, mesh)
        step += 1


def eval_batches(
    arrays: Mapping[str, Any], batch_size: int, *, mesh: Mesh | None = None
) -> Iterator[dict[str, Any]]:
    """Yields every example exactly once, in order, in full-size batches with a ``"mask"``.

    The last batch is padded with zeros to ``batch_size``; ``mask`` (float32 ``(batch_size,)``) is
    1 for real examples and 0 for padding, so a jitted eval step sees one shape and never
    recompiles. Weight per-example metrics by ``mask`` and divide by ``mask.sum()``.

    Args:
      arrays: dict of arrays sharing the leading length ``N``; must not already contain ``"mask"``.
      batch_size: examples per batch (may exceed ``N``: one padded batch).
      mesh: when given, batches are sharded over the ``"data"`` axis.

    Raises:
      ValueError: (at the call) for a bad batch size or mesh, mismatched lengths or a ``mask`` key.

    Example:
        >>> import numpy as np
        >>> [b["mask"].tolist() for b in eval_batches({"x": np.arange(3)}, 2)]
        [[1.0, 1.0], [1.0, 0.0]]
    """
    arrays = (
        {k: np.asarray(v) for k, v in arrays.items()} if isinstance(arrays, Mapping) else arrays
    )
    n = _num_examples(arrays)
    _check_batch_size(batch_size, n, allow_larger=True)
    if "mask" in arrays:
        raise ValueError('arrays already have a "mask" key; eval_batches adds its own.')
    _check_mesh(mesh, int(batch_size))
    return _eval_iterate(arrays, n, int(batch_size), mesh)


def _eval_iterate(arrays, n, batch_size, mesh):
    for lo in range(0, n, batch_size):
        real = min(batch_size, n - lo)
        batch = {}
        for k, v in arrays.items():
            chunk = v[lo : lo + real]
            if real < batch_size:
                pad = np.zeros((batch_size - real, *v.shape[1:]), v.dtype)
                chunk = np.concatenate([chunk, pad])
            batch[k] = chunk
        mask = np.zeros(batch_size, np.float32)
        mask[:real] = 1.0
        batch["mask"] = mask
        yield _place(batch, mesh)
