"""Device meshes and batch placement that run unchanged on 1 CPU, 8 fake CPUs, a GPU or a TPU slice.

The conventions: a 1-D ``("data",)`` mesh by default; batches are sharded along their leading axis
over ``data``; params are replicated unless a sharding rule says otherwise.

Example:
    >>> import numpy as np
    >>> mesh = make_mesh()
    >>> batch = shard_batch({"x": np.zeros((len(mesh.devices.flat) * 2, 3))}, mesh)
    >>> batch["x"].shape[1]
    3
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from efficient_jax.types import PyTree

DATA_AXIS = "data"


def maybe_initialize_distributed() -> bool:
    """Calls ``jax.distributed.initialize()`` when the environment says this is a multi-host job.

    Recognised: ``JAX_COORDINATOR_ADDRESS`` (explicit), SLURM with more than one task
    (``SLURM_NTASKS``), Cloud TPU multi-worker VMs on GKE (``TPU_WORKER_HOSTNAMES`` with a comma),
    and an explicit ``EFFICIENT_JAX_DISTRIBUTED=1`` (set by ``launch/tpu_vm.sh``: on GCE TPU VMs
    the worker list is in the metadata server, not the environment, and JAX reads it itself).
    Returns whether it initialised. Safe to call twice.
    """
    multi = (
        os.environ.get("EFFICIENT_JAX_DISTRIBUTED", "0") not in ("", "0")
        or "JAX_COORDINATOR_ADDRESS" in os.environ
        or int(os.environ.get("SLURM_NTASKS", "1")) > 1
        or "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")
    )
    if not multi or jax.distributed.is_initialized():
        return False
    jax.distributed.initialize()
    return True


def make_mesh(
    shape: Sequence[int] | None = None,
    axis_names: Sequence[str] = (DATA_AXIS,),
    *,
    devices: Sequence[jax.Device] | None = None,
) -> Mesh:
    """Builds a mesh over all (or the given) devices; ``-1`` in ``shape`` takes the remainder.

    Args:
      shape: mesh shape; default puts every device on the first axis.
      axis_names: one name per mesh axis.
      devices: devices to use (default ``jax.devices()``).

    Raises:
      ValueError: if the shape does not match the number of devices or names.
    """
    devices = list(devices) if devices is not None else jax.devices()
    n = len(devices)
    if shape is None:
        shape = (n,) + (1,) * (len(axis_names) - 1)
    shape = list(shape)
    if len(shape) != len(axis_names):
        raise ValueError(f"Mesh shape {shape} and axis names {list(axis_names)} differ in length.")
    if shape.count(-1) > 1:
        raise ValueError(f"At most one -1 is allowed in a mesh shape; got {shape}.")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or n % known:
            raise ValueError(f"Cannot fill mesh shape {shape} with {n} devices.")
        shape[shape.index(-1)] = n // known
    if int(np.prod(shape)) != n:
        raise ValueError(f"Mesh shape {shape} needs {int(np.prod(shape))} devices; {n} available.")
    # Auto axes: the compiler propagates shardings, so plain jit code stays sharding-agnostic.
    axis_types = (jax.sharding.AxisType.Auto,) * len(axis_names)
    return jax.make_mesh(tuple(shape), tuple(axis_names), axis_types=axis_types, devices=devices)


def data_sharding(mesh: Mesh, axis: str = DATA_AXIS) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over ``axis``."""
    return NamedSharding(mesh, P(axis))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that replicates an array on every device of ``mesh``."""
    return NamedSharding(mesh, P())


def shard_batch(batch: PyTree, mesh: Mesh | None, axis: str = DATA_AXIS) -> PyTree:
    """Places a host batch on ``mesh`` with the leading axis split over ``axis``.

    With ``mesh=None`` the batch is moved to the default device. Multi-host: each process passes its
    local slice and the global array is assembled with
    :func:`jax.make_array_from_process_local_data`.

    Raises:
      ValueError: if the leading axis does not divide over the ``axis`` devices.
    """
    if mesh is None:
        return jax.device_put(batch)
    n = mesh.shape[axis]
    sharding = data_sharding(mesh, axis)

    def put(x):
        x = np.asarray(x)
        if x.ndim == 0 or x.shape[0] % (n // max(jax.process_count(), 1) or 1):
            raise ValueError(
                f"Batch leading dim {x.shape[:1]} must divide over the {n} devices of mesh axis "
                f"{axis!r}; choose a batch size that is a multiple of {n}."
            )
        if jax.process_count() > 1:
            return jax.make_array_from_process_local_data(sharding, x)
        return jax.device_put(x, sharding)

    return jax.tree.map(put, batch)


def replicate(tree: PyTree, mesh: Mesh | None) -> PyTree:
    """Replicates a pytree on every device of ``mesh`` (or the default device if ``None``)."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, replicated(mesh))
