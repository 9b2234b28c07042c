"""Parallel MREM (MREM-P): all modules train at once, one per slice of a ``module`` mesh axis.

Bai 2021, thesis Ch. 4, §4.3.3 and Algorithms 2–3. Module n runs on device n (``jax.shard_map``
over a mesh axis ``"module"`` of size N); every tick each module

1. takes its input from a FIFO ring buffer holding module n-1's t0 most recent outputs (the
   float and quantized outputs of one calibration batch, kept as one entry with the batch's
   indices so the pair stays aligned), sampled uniformly with replacement, never waiting for the
   predecessor; module 1 draws a fresh calibration batch;
2. mixes the inputs with teacher forcing, ``x̃ = λ_t·x_fp + (1-λ_t)·x̂``, λ_t = max(1-t/T0, 0);
3. takes one local Adam step on its loss (Eq. 4.2); the inputs are ``stop_gradient``-ed, so no
   gradient crosses a module boundary and no gradient is communicated;
4. sends its new outputs to module n+1 with ``lax.ppermute`` (i → i+1), which pushes them into its
   buffer.

The modules differ (embedding in the first, head in the last), so the program is made uniform:
each module's trainable variables are flattened into one padded vector (``(N, P_max)`` sharded on
``module``: each device holds only its own module), and ``lax.switch`` on ``axis_index`` runs
module n's forward/backward. A fill phase of t0 forward passes of the initial (round-to-nearest)
chain fills the buffers before training starts.

On CPU, emulate devices with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` set before JAX
starts; on a GPU/TPU host, one module maps to one accelerator.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from efficient_jax.ptq._modules import ModuleSet, ReconConfig, check_calibration, gather
from efficient_jax.ptq._ring import ring_init, ring_push, ring_sample
from efficient_jax.ptq._sequential import as_device, batch_indices

MODULE_AXIS = "module"


def module_mesh(num_modules: int, devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh ``("module",)`` over the first ``num_modules`` devices.

    Raises:
      ValueError: fewer devices than modules (with the CPU emulation hint).
    """
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) < num_modules:
        raise ValueError(
            f"Parallel MREM needs one device per module: {num_modules} modules but only "
            f"{len(devices)} device(s). On CPU start Python with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={num_modules}, or use fewer modules."
        )
    return jax.make_mesh((num_modules,), (MODULE_AXIS,), devices=devices[:num_modules])


def _fill_buffers(mods, trainables, frozens, fp_vars, calib, cfg, n, example):
    """Runs t0 calibration batches through the initial chain; module k's outputs fill buffer k+1."""
    num = len(mods)
    bufs = [ring_init(cfg.queue_size, example) for _ in range(num)]
    fill_key = jax.random.fold_in(jax.random.key(cfg.seed), 1)
    forwards = [
        jax.jit(functools.partial(mods.loss, k), static_argnames=()) for k in range(num - 1)
    ]
    for j in range(cfg.queue_size):
        idx = batch_indices(fill_key, j, n, cfg.batch_size)
        batch = gather(calib, idx)
        x_fp = x_q = None
        for k in range(num - 1):
            _, (x_fp, x_q) = forwards[k](
                trainables[k], frozens[k], fp_vars[k], x_fp, x_q, batch, 0.0
            )
            bufs[k + 1] = ring_push(bufs[k + 1], {"fp": x_fp, "q": x_q, "idx": idx})
    return jax.tree.map(lambda *xs: jnp.stack(xs), *bufs)


def mrem_parallel(
    mods: ModuleSet,
    fp_vars: Sequence[Any],
    qvars: Sequence[Any],
    calib: Mapping[str, Any],
    cfg: ReconConfig,
    *,
    mesh: jax.sharding.Mesh | None = None,
    callback: Callable[[int, list[float]], None] | None = None,
    log_every: int = 0,
) -> tuple[list[dict], dict[str, Any]]:
    """MREM-P: trains all modules simultaneously, one per device of a ``module`` mesh axis.

    Args:
      mods, fp_vars, qvars: from :func:`~efficient_jax.ptq.build_modules`.
      calib: calibration inputs with a leading example axis.
      cfg: steps (per module, all modules run them concurrently), batch size, learning rate,
        ``queue_size`` (t0), ``tf_fraction`` (T0/T), seed.
      mesh: a mesh with a ``"module"`` axis of size N (default: :func:`module_mesh`).
      callback: ``callback(step, per-module losses)`` every ``log_every`` ticks and at the end.

    Returns:
      ``(qvars, info)``: trained module variables and ``{"steps_per_module", "fill_batches",
      "final_loss", "train_time_s"}``.

    Raises:
      ValueError: fewer devices than modules, a mesh without a matching ``module`` axis, or a
        calibration set smaller than one batch.

    Example:
        >>> # XLA_FLAGS=--xla_force_host_platform_device_count=4; see tests/ptq for a full run.
        >>> module_mesh(2).shape["module"]  # doctest: +SKIP
        2
    """
    num = len(mods)
    n = check_calibration(calib, cfg.batch_size)
    if mesh is None:
        mesh = module_mesh(num)
    elif mesh.shape.get(MODULE_AXIS) != num:
        raise ValueError(
            f"The mesh needs a {MODULE_AXIS!r} axis of size {num} (one device per module); got "
            f"axes {dict(mesh.shape)}."
        )
    calib = as_device(calib)
    split = [mods.split_trainable(q) for q in qvars]
    trainables, frozens = [s[0] for s in split], [s[1] for s in split]

    # Per-module flat vectors, padded to a common length and stacked on the module axis.
    flat_tr, unravel_tr = zip(*(ravel_pytree(t) for t in trainables), strict=True)
    flat_c, unravel_c = zip(
        *(ravel_pytree((f, v)) for f, v in zip(frozens, fp_vars, strict=True)), strict=True
    )
    sizes_tr = [int(f.size) for f in flat_tr]
    sizes_c = [int(f.size) for f in flat_c]
    p_tr, p_c = max(sizes_tr), max(sizes_c)

    def stack(flats, width):
        return jnp.stack([jnp.pad(f, (0, width - f.size)) for f in flats])

    tx = cfg.optimizer()
    shard = NamedSharding(mesh, P(MODULE_AXIS))
    theta = stack(flat_tr, p_tr)
    opt = jax.device_put(jax.vmap(tx.init)(theta), shard)
    theta = jax.device_put(theta, shard)
    consts = jax.device_put(stack(flat_c, p_c), shard)

    # Fill phase (forward only) on the initial chain.
    sample = gather(calib, jnp.arange(cfg.batch_size))
    _, (f0, _) = jax.eval_shape(
        functools.partial(mods.loss, 0), trainables[0], frozens[0], fp_vars[0], None, None,
        sample, 0.0,
    )  # fmt: skip
    example = {
        "fp": jnp.zeros(f0.shape, f0.dtype),
        "q": jnp.zeros(f0.shape, f0.dtype),
        "idx": jnp.zeros((cfg.batch_size,), jnp.int32),
    }
    bufs = _fill_buffers(mods, trainables, frozens, fp_vars, calib, cfg, n, example)
    bufs = jax.device_put(bufs, shard)
    replicated = NamedSharding(mesh, P())
    calib = jax.device_put(calib, replicated)

    def branch(j):
        def run(th, c, x_fp, x_q, batch, lam):
            trainable = unravel_tr[j](th[: sizes_tr[j]])
            frozen, fpv = unravel_c[j](c[: sizes_c[j]])

            def loss_fn(tr):
                return mods.loss(j, tr, frozen, fpv, x_fp, x_q, batch, lam)

            (loss, (f_out, q_out)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
            g = ravel_pytree(grads)[0]
            return loss, jnp.pad(g, (0, p_tr - sizes_tr[j])), f_out, q_out

        return run

    data_key = jax.random.fold_in(jax.random.key(cfg.seed), 0)
    sample_key = jax.random.fold_in(jax.random.key(cfg.seed), 2)
    perm = [(i, i + 1) for i in range(num - 1)]

    def tick(theta, opt, consts, bufs, calib, t):
        k = jax.lax.axis_index(MODULE_AXIS)
        th, c = theta[0], consts[0]
        o = jax.tree.map(lambda x: x[0], opt)
        buf = jax.tree.map(lambda x: x[0], bufs)
        entry = ring_sample(buf, jax.random.fold_in(jax.random.fold_in(sample_key, k), t))
        fresh = batch_indices(data_key, t, n, cfg.batch_size).astype(jnp.int32)
        idx = jnp.where(k == 0, fresh, entry["idx"])
        batch = gather(calib, idx)
        lam = cfg.teacher_weight(t)
        loss, g, f_out, q_out = jax.lax.switch(
            k, [branch(j) for j in range(num)], th, c, entry["fp"], entry["q"], batch, lam
        )
        updates, o = tx.update(g, o, th)
        th = optax.apply_updates(th, updates)
        recv = jax.lax.ppermute({"fp": f_out, "q": q_out, "idx": idx}, MODULE_AXIS, perm)
        buf = ring_push(buf, recv, valid=k > 0)
        expand = functools.partial(jax.tree.map, lambda x: x[None])
        return th[None], expand(o), expand(buf), loss[None]

    spec = P(MODULE_AXIS)
    step = jax.jit(
        jax.shard_map(
            tick,
            mesh=mesh,
            in_specs=(spec, spec, spec, spec, P(), P()),
            out_specs=(spec, spec, spec, spec),
            check_vma=False,
        ),
        donate_argnums=(0, 1, 3),
    )
    start = time.perf_counter()
    losses = jnp.zeros((num,))
    for t in range(cfg.steps):
        theta, opt, bufs, losses = step(theta, opt, consts, bufs, calib, jnp.int32(t))
        last = t == cfg.steps - 1
        if callback is not None and (last or (log_every and (t + 1) % log_every == 0)):
            callback(t + 1, [float(v) for v in losses])
    theta = np.asarray(jax.device_get(theta))
    elapsed = time.perf_counter() - start
    out = []
    for j in range(num):
        trained = unravel_tr[j](jnp.asarray(theta[j, : sizes_tr[j]]))
        out.append({**frozens[j], **trained})
    info = {
        "steps_per_module": [cfg.steps] * num,
        "fill_batches": cfg.queue_size,
        "final_loss": [float(v) for v in np.asarray(jax.device_get(losses))],
        "train_time_s": elapsed,
    }
    return out, info
