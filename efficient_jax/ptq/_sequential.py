"""Sequential MREM (MREM-S) and the layer-wise REM baseline (Bai 2021, thesis Ch. 4).

- :func:`mrem_sequential`: modules are trained one after another for ``steps`` steps each; module
  n's quantized input is the output of the *already trained* quantized modules 1..n-1 on the same
  calibration examples, its targets the float model's layer outputs (thesis §4.3.2). The float
  and quantized boundary activations of the whole calibration set are cached between modules.
- :func:`rem`: per-matmul reconstruction: every quantized layer (Dense/Embed) minimises
  ``||layer_q(x̂) - layer_fp(x)||²`` with its own input ``x̂`` from the quantized model and
  ``stop_gradient`` on it, so each matmul learns only from its own output error (thesis §4.2,
  the REM baseline). All matmuls train together, one full-model step per step.

Example:
    >>> import jax, jax.numpy as jnp
    >>> batch_indices(jax.random.key(0), 3, 10, 4).shape
    (4,)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from efficient_jax import qat
from efficient_jax.ptq._modules import ModuleSet, ReconConfig, check_calibration, gather, mse
from efficient_jax.qat import (
    INPUT,
    fake_quant_act,
    fake_quant_weight,
    intercept_layers,
    split_variables,
    tree_get,
)


def batch_indices(key: jax.Array, t: Any, n: int, batch_size: int) -> jax.Array:
    """The calibration indices of step ``t``: ``batch_size`` distinct examples out of ``n``."""
    return jax.random.choice(jax.random.fold_in(key, t), n, (batch_size,), replace=False)


def as_device(calib: Mapping[str, Any]) -> dict[str, jax.Array]:
    return {k: jnp.asarray(v) for k, v in calib.items()}


def _propagate(mods: ModuleSet, k: int, fp_vars, qvars, x_fp_all, x_q_all, calib, batch_size):
    """Module k's float and quantized outputs on the whole calibration set (in chunks)."""
    trainable, frozen = mods.split_trainable(qvars)

    @jax.jit
    def run(x_fp, x_q, batch):
        return mods.loss(k, trainable, frozen, fp_vars, x_fp, x_q, batch, 0.0)[1]

    n = calib["input_ids"].shape[0]
    outs_fp, outs_q = [], []
    for start in range(0, n, batch_size):
        idx = jnp.arange(start, min(start + batch_size, n))
        x_fp = None if x_fp_all is None else x_fp_all[idx]
        x_q = None if x_q_all is None else x_q_all[idx]
        f, fq = run(x_fp, x_q, gather(calib, idx))
        outs_fp.append(f)
        outs_q.append(fq)
    return jnp.concatenate(outs_fp), jnp.concatenate(outs_q)


def mrem_sequential(
    mods: ModuleSet,
    fp_vars: Sequence[Any],
    qvars: Sequence[Any],
    calib: Mapping[str, Any],
    cfg: ReconConfig,
    *,
    callback: Callable[[int, int, float], None] | None = None,
    log_every: int = 0,
) -> tuple[list[dict], dict[str, Any]]:
    """MREM-S: trains the modules one after another (thesis §4.3.2).

    Args:
      mods, fp_vars, qvars: from :func:`~efficient_jax.ptq.build_modules`.
      calib: calibration inputs ``{"input_ids", "attention_mask"}`` with a leading example axis.
      cfg: steps per module, batch size, learning rate, seed.
      callback: ``callback(module, step, loss)`` every ``log_every`` steps (and the last).
      log_every: logging period (0: only the last step of each module).

    Returns:
      ``(qvars, info)``: the trained module variables and ``{"steps_per_module", "module_time_s",
      "final_loss"}``.

    Raises:
      ValueError: a calibration set smaller than one batch.
    """
    n = check_calibration(calib, cfg.batch_size)
    calib = as_device(calib)
    tx = cfg.optimizer()
    key = jax.random.key(cfg.seed)
    x_fp_all = x_q_all = None
    out, times, finals = [], [], []
    for k in range(len(mods)):
        start = time.perf_counter()
        trainable, frozen = mods.split_trainable(qvars[k])
        trainable = jax.tree.map(jnp.copy, trainable)  # the step donates its buffers
        opt = tx.init(trainable)

        @functools.partial(jax.jit, donate_argnums=(0, 1))
        def step(trainable, opt, frozen, fpv, x_fp_all, x_q_all, calib, idx, k=k):
            x_fp = None if x_fp_all is None else x_fp_all[idx]
            x_q = None if x_q_all is None else x_q_all[idx]
            batch = gather(calib, idx)

            def loss_fn(tr):
                return mods.loss(k, tr, frozen, fpv, x_fp, x_q, batch, 0.0)[0]

            loss, grads = jax.value_and_grad(loss_fn)(trainable)
            updates, opt = tx.update(grads, opt, trainable)
            return optax.apply_updates(trainable, updates), opt, loss

        mkey = jax.random.fold_in(key, 100 + k)
        loss = jnp.zeros(())
        for t in range(cfg.steps):
            idx = batch_indices(mkey, t, n, cfg.batch_size)
            trainable, opt, loss = step(
                trainable, opt, frozen, fp_vars[k], x_fp_all, x_q_all, calib, idx
            )
            last = t == cfg.steps - 1
            if callback is not None and (last or (log_every and (t + 1) % log_every == 0)):
                callback(k, t + 1, float(loss))
        new = {**frozen, **jax.block_until_ready(trainable)}
        out.append(new)
        finals.append(float(loss))
        if k < len(mods) - 1:
            x_fp_all, x_q_all = _propagate(
                mods, k, fp_vars[k], new, x_fp_all, x_q_all, calib, cfg.batch_size
            )
        times.append(time.perf_counter() - start)
    info = {
        "steps_per_module": [cfg.steps] * len(mods),
        "module_time_s": times,
        "final_loss": finals,
    }
    return out, info


def layer_outputs(
    qmodel: qat.QuantizedModel,
    variables: Mapping[str, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    quantized: bool,
) -> dict[str, jax.Array]:
    """The output of every quantized layer (by path), float or fake-quantized.

    With ``quantized=True`` each layer's input is ``stop_gradient``-ed before its quantizers, so a
    loss on one layer's output trains only that layer's weight and quantizer leaves (REM).
    """
    model_vars, q, stats = split_variables(variables)
    outs: dict[str, jax.Array] = {}

    def layer_fn(call):
        if not quantized:
            y = call.run(call.inputs)
        else:
            path = call.spec.path
            x = jax.lax.stop_gradient(call.inputs)
            w = fake_quant_weight(call, tree_get(q, path))
            if call.quantizes_input:
                x = fake_quant_act(
                    call.spec, tree_get(q, path).get(INPUT, {}), tree_get(stats, path).get(INPUT), x
                )
            y = call.run(x, **{call.spec.weight_name: w})
        outs[f"{call.spec.name}:{call.method}"] = y
        return y

    with intercept_layers(qmodel.layers, layer_fn):
        qmodel.apply_fn(model_vars, *args, **kwargs)
    return outs


def rem(
    qmodel: qat.QuantizedModel,
    float_vars: Mapping[str, Any],
    qat_params: Mapping[str, Any],
    calib: Mapping[str, Any],
    cfg: ReconConfig,
    *,
    callback: Callable[[int, float], None] | None = None,
    log_every: int = 0,
) -> tuple[dict, dict[str, Any]]:
    """REM: per-matmul reconstruction of the whole model for ``cfg.steps`` steps.

    Args:
      qmodel, qat_params: from :func:`~efficient_jax.qat.prepare` (the RTN starting point).
      float_vars: the float model's variables (targets).
      calib, cfg: as :func:`mrem_sequential` (``cfg.train_weights`` also applies).
      callback: ``callback(step, loss)`` every ``log_every`` steps and at the end.

    Returns:
      ``(qat_params, info)`` with ``info["steps"]`` and ``info["final_loss"]``.
    """
    n = check_calibration(calib, cfg.batch_size)
    calib = as_device(calib)
    keys = ("params", qat.QUANT) if cfg.train_weights else (qat.QUANT,)
    trainable = jax.tree.map(jnp.copy, {k: qat_params[k] for k in keys})  # donated below
    frozen = {k: v for k, v in qat_params.items() if k not in keys}
    tx = cfg.optimizer()
    opt = tx.init(trainable)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(trainable, opt, frozen, float_vars, calib, idx):
        batch = gather(calib, idx)
        kw = {k: v for k, v in batch.items() if k != "input_ids"}
        args = (batch["input_ids"],)
        target = layer_outputs(qmodel, float_vars, args, kw, quantized=False)
        target = jax.tree.map(jax.lax.stop_gradient, target)

        def loss_fn(tr):
            outs = layer_outputs(qmodel, {**frozen, **tr}, args, kw, quantized=True)
            return sum(mse(outs[name], target[name]) for name in sorted(target))

        loss, grads = jax.value_and_grad(loss_fn)(trainable)
        updates, opt = tx.update(grads, opt, trainable)
        return optax.apply_updates(trainable, updates), opt, loss

    key = jax.random.fold_in(jax.random.key(cfg.seed), 7)
    loss = jnp.zeros(())
    for t in range(cfg.steps):
        trainable, opt, loss = step(
            trainable, opt, frozen, float_vars, calib, batch_indices(key, t, n, cfg.batch_size)
        )
        if callback is not None and (
            t == cfg.steps - 1 or (log_every and (t + 1) % log_every == 0)
        ):
            callback(t + 1, float(loss))
    out = {**frozen, **jax.block_until_ready(trainable)}
    return out, {"steps": cfg.steps, "final_loss": float(loss)}
