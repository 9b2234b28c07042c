"""Data-parallel training steps and rule-based parameter placement on a mesh.

Data parallelism in JAX needs no collective in user code: :func:`data_parallel_step` jits an
ordinary ``step_fn(state, batch)`` with the state replicated and the batch split along its leading
axis, and the compiler (GSPMD) inserts the all-reduce of the gradients. :func:`shard_params`
places params by regex rules on their paths (first match wins), for models too large to replicate.

Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from efficient_jax.parallel import make_mesh, replicate, shard_batch
    >>> mesh = make_mesh()
    >>> def step(w, batch):
    ...     loss = lambda w: jnp.mean((batch["x"] @ w - batch["y"]) ** 2)
    ...     value, grad = jax.value_and_grad(loss)(w)
    ...     return w - 0.1 * grad, {"loss": value}
    >>> train_step = data_parallel_step(step, mesh)
    >>> n = mesh.shape["data"] * 2
    >>> batch = shard_batch({"x": np.ones((n, 3)), "y": np.ones((n, 1))}, mesh)
    >>> w, metrics = train_step(replicate(jnp.zeros((3, 1)), mesh), batch)
    >>> float(metrics["loss"])
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.sharding import Mesh, NamedSharding, Sharding
from jax.sharding import PartitionSpec as P

from efficient_jax.core import map_with_path_str, match_rules
from efficient_jax.parallel._mesh import DATA_AXIS, data_sharding, replicated
from efficient_jax.types import PyTree


def _is_sharding(x: Any) -> bool:
    return isinstance(x, Sharding)


def _place(tree: PyTree, shardings: PyTree) -> PyTree:
    """Moves the ``jax.Array`` leaves of ``tree`` that are placed differently from ``shardings``.

    ``shardings`` is a sharding or a pytree prefix of ``tree`` with shardings at its leaves.
    Host arrays (NumPy) and already placed arrays pass through untouched; jit places the former.
    """

    def put(x, sharding):
        if isinstance(x, jax.Array) and not x.sharding.is_equivalent_to(sharding, x.ndim):
            return jax.device_put(x, sharding)
        return x

    return jax.tree.map(
        lambda s, sub: jax.tree.map(lambda x: put(x, s), sub),
        shardings,
        tree,
        is_leaf=_is_sharding,
    )


def data_parallel_step(
    step_fn: Callable[[PyTree, PyTree], tuple[PyTree, PyTree]],
    mesh: Mesh,
    *,
    donate_state: bool = True,
    axis: str = DATA_AXIS,
    state_sharding: PyTree | None = None,
) -> Callable[[PyTree, PyTree], tuple[PyTree, PyTree]]:
    """Jits ``step_fn(state, batch) -> (state, metrics)`` for data-parallel training on ``mesh``.

    The state is replicated on every device (``NamedSharding(mesh, P())``), every batch leaf is
    split along its leading axis over the mesh axis ``axis``, and the new state and the metrics
    come back replicated.

    Why the gradients come out averaged with no ``pmean`` in ``step_fn``: under ``jit`` the batch
    is one *global* array, so a loss written as a mean over the batch is the mean over the global
    batch, exactly as on one device. Its gradient with respect to the replicated params is a sum
    over batch shards; the SPMD partitioner computes each shard's part locally and inserts the
    all-reduce that combines them. The result equals the single-device step up to floating-point
    summation order. (A loss that *sums* over the batch gives summed gradients, also as on one
    device.)

    Args:
      step_fn: pure function of ``(state, batch)`` returning ``(new_state, metrics)``; ``state``
        is any pytree (e.g. ``{"params", "opt", "step"}``), ``metrics`` a pytree of arrays.
      mesh: the device mesh, e.g. from :func:`make_mesh`.
      donate_state: donate the input state's buffers to the output (halves state memory; the
        input state must not be used after the call; note that :func:`replicate` of arrays that
        already live where asked returns the same buffers, so those are donated too).
      axis: mesh axis (or axes, as a tuple) the batch is split over.
      state_sharding: optional sharding, or pytree prefix of shardings, for the state instead of
        replication (e.g. from :func:`param_shardings`); the gradient all-reduce then becomes a
        reduce-scatter automatically.

    Returns:
      ``step(state, batch) -> (state, metrics)``. Arrays already on the mesh (use
      :func:`replicate` and :func:`shard_batch`; on multi-host jobs the batch must be a global
      array from :func:`shard_batch`) run with no copies; arrays placed elsewhere are moved first.
      The compiled function is ``step.jitted`` (for ``.lower(...)``).

    Raises:
      ValueError: if ``axis`` is not an axis of ``mesh``.
    """
    axes = axis if isinstance(axis, tuple) else (axis,)
    if any(a not in mesh.axis_names for a in axes):
        raise ValueError(f"Batch axis {axis!r} is not an axis of the mesh {dict(mesh.shape)}.")
    state_sh = replicated(mesh) if state_sharding is None else state_sharding
    batch_sh = data_sharding(mesh, axis)
    jitted = jax.jit(
        step_fn,
        in_shardings=(state_sh, batch_sh),
        out_shardings=(state_sh, replicated(mesh)),
        donate_argnums=(0,) if donate_state else (),
    )

    def step(state: PyTree, batch: PyTree) -> tuple[PyTree, PyTree]:
        return jitted(_place(state, state_sh), _place(batch, batch_sh))

    step.jitted = jitted  # type: ignore[attr-defined]
    step.__doc__ = f"Data-parallel {getattr(step_fn, '__name__', 'step')} over mesh axis {axis!r}."
    return step


def _check_spec(path: str, shape: tuple[int, ...], spec: P, mesh: Mesh) -> None:
    if len(spec) > len(shape):
        raise ValueError(
            f"PartitionSpec {spec} for {path!r} has {len(spec)} entries but the leaf has shape "
            f"{shape} ({len(shape)} dims)."
        )
    for dim, entry in enumerate(spec):
        if entry is None:
            continue
        names = entry if isinstance(entry, tuple) else (entry,)
        size = 1
        for name in names:
            if name not in mesh.axis_names:
                raise ValueError(
                    f"PartitionSpec {spec} for {path!r} names mesh axis {name!r}; the mesh has "
                    f"axes {dict(mesh.shape)}."
                )
            size *= mesh.shape[name]
        if shape[dim] % size:
            raise ValueError(
                f"Cannot shard {path!r} with shape {shape}: dim {dim} (size {shape[dim]}) is not "
                f"divisible by mesh axis {entry!r} of size {size}."
            )


def param_shardings(params: PyTree, mesh: Mesh, rules: Sequence[tuple[str, P | None]]) -> PyTree:
    """The ``NamedSharding`` of every leaf of ``params`` under regex ``rules`` (first match wins).

    Works on :class:`jax.ShapeDtypeStruct` leaves, so the result can feed
    ``jax.jit(init, out_shardings=...)`` before any param exists.

    Args:
      params: a pytree of arrays or shape structs.
      mesh: the device mesh.
      rules: ``(regex, PartitionSpec)`` pairs matched with :func:`re.search` against each leaf's
        ``/``-joined path; the first match wins. Unmatched leaves (or a ``None`` spec) are
        replicated.

    Raises:
      ValueError: if a spec names an unknown mesh axis, has more entries than the leaf has dims,
        or splits a dim whose size the mesh axis size does not divide (the message names the path,
        the shape and the axis size).
    """
    specs = match_rules(params, rules, name="sharding rule")

    def sharding(path: str, x: Any, spec: Any) -> NamedSharding:
        spec = P() if spec is None else spec
        if not isinstance(spec, P):
            raise ValueError(f"Sharding rule for {path!r} gave {spec!r}; expected a PartitionSpec.")
        _check_spec(path, tuple(x.shape), spec, mesh)
        return NamedSharding(mesh, spec)

    return map_with_path_str(sharding, params, specs)


def shard_params(params: PyTree, mesh: Mesh, rules: Sequence[tuple[str, P | None]]) -> PyTree:
    """Places ``params`` on ``mesh`` by regex rules ``[(regex, PartitionSpec), ...]``.

    First match wins; unmatched leaves are replicated. See :func:`param_shardings` for the rules
    and the errors raised (all checks happen before anything is moved).

    Example:
        >>> import jax.numpy as jnp
        >>> from efficient_jax.parallel import make_mesh
        >>> mesh = make_mesh((1, -1), ("data", "model"))
        >>> params = {"dense": {"kernel": jnp.ones((4, 8)), "bias": jnp.zeros(8)}}
        >>> placed = shard_params(params, mesh, [(r"kernel$", jax.P(None, "model"))])
        >>> placed["dense"]["kernel"].sharding.spec, placed["dense"]["bias"].sharding.spec
        (P(None, 'model'), P())
    """
    return jax.device_put(params, param_shardings(params, mesh, rules))
