"""Post-training quantization of a float BERT by reconstruction: RTN, REM, MREM-S, MREM-P, QAT.

One harness for the methods of Bai 2021 (thesis Ch. 4, Table 4.1): every run starts from the same
float model and the same calibrated round-to-nearest (RTN) fake-quant model (``ptq.ptq_rules`` for
``config.bits``), then applies ``config.method``:

- ``rtn``: nothing more (calibrated LSQ steps, round-to-nearest weights);
- ``rem``: per-matmul reconstruction on the calibration set (``ptq.rem``);
- ``mrem_seq``: sequential module-wise reconstruction (``ptq.mrem_sequential``);
- ``mrem_par``: parallel module-wise reconstruction on a ``module`` mesh axis
  (``ptq.mrem_parallel``; needs ``num_modules`` devices: on CPU run with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=4``);
- ``qat``: quantization-aware training on the full training set with distillation from the float
  model (logits soft cross-entropy + MSE on every hidden state, TernaryBERT-style), same rules.

Writes ``results.json`` (flat numbers): ``float_accuracy``, ``rtn_accuracy``, ``accuracy``,
``method_time_s`` (wall time of the method after RTN, compilation included), ``calib_samples``,
``train_samples`` (distinct training examples the method used), ``sample_passes`` (examples ×
steps over all modules), ``steps_per_module``, ``peak_memory_bytes``, ``recon_error_rtn`` /
``recon_error`` (summed module losses of the quantized chain on the calibration set); and
``details.json`` with per-module numbers and the peak-memory source. Runs are minutes long and do
not checkpoint; re-running recomputes.
"""

from __future__ import annotations

import functools
import json
import logging
import pathlib
import resource
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from efficient_jax import data, distill, ptq, qat, train
from efficient_jax.trainers import _float, _pipeline

log = logging.getLogger("efficient_jax")

METHODS = ("rtn", "rem", "mrem_seq", "mrem_par", "qat")


def peak_memory() -> tuple[int, str]:
    """``(bytes, source)``: the accelerator allocator's peak over devices if it reports one, else
    the process's peak resident set size (``getrusage`` maxrss)."""
    peaks = []
    for d in jax.local_devices():
        stats = d.memory_stats() if hasattr(d, "memory_stats") else None
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    if peaks:
        return max(peaks), f"{jax.default_backend()} peak_bytes_in_use (max over devices)"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process maxrss (CPU)"


def _float_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """``config`` with ``model_kwargs`` of the float run in ``float_workdir`` (if any)."""
    cfg = ml_collections.ConfigDict(config.to_dict())
    if config.get("float_workdir"):
        path = pathlib.Path(config.float_workdir) / "config.json"
        if not path.exists():
            raise FileNotFoundError(
                f"float_workdir {config.float_workdir} has no config.json; train the float model "
                "first (see the config docstring)."
            )
        cfg.model_kwargs = json.loads(path.read_text())["model_kwargs"]
    return cfg


def validate(config: ml_collections.ConfigDict) -> tuple[ptq.ReconConfig, list[qat.QuantRule]]:
    """Checks the method, bits, module count, calibration size and devices before any work."""
    if config.method not in METHODS:
        raise ValueError(f"Unknown config.method {config.method!r}; valid: {list(METHODS)}.")
    rules = ptq.ptq_rules(config.bits)
    num_layers = int(config.model_kwargs.get("num_layers", 2))
    ptq.balanced_layers(num_layers, config.num_modules)
    cfg = ptq.ReconConfig(
        steps=config.ptq_steps,
        batch_size=config.ptq_batch_size,
        learning_rate=config.ptq_learning_rate,
        train_weights=config.train_weights,
        tf_fraction=config.tf_fraction,
        queue_size=config.queue_size,
        seed=config.seed,
    )
    if config.calib_size < config.ptq_batch_size:
        raise ValueError(
            f"config.calib_size={config.calib_size} is smaller than one batch "
            f"(ptq_batch_size={config.ptq_batch_size}); use calib_size >= ptq_batch_size."
        )
    if config.method == "mrem_par" and jax.device_count() < config.num_modules:
        ptq.module_mesh(config.num_modules)  # raises with the XLA_FLAGS hint
    return cfg, rules


def _qat(config, s, qmodel, float_vars, qat_params, writer) -> tuple[dict, dict[str, Any]]:
    """QAT with KD (logits + hidden states) on the training set; returns (qat_params, info)."""
    keys = ("params", qat.QUANT)
    trainable = jax.tree.map(jnp.copy, {k: qat_params[k] for k in keys})
    frozen = {k: v for k, v in qat_params.items() if k not in keys}
    steps = int(config.qat_steps)
    tx = optax.adam(optax.linear_schedule(config.qat_learning_rate, 0.0, max(steps, 1)))
    opt = tx.init(trainable)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(trainable, opt, frozen, float_vars, batch):
        args, kw = train.model_inputs(batch)
        t_logits, t_aux = s.model.apply(float_vars, *args, return_aux=True, **kw)

        def loss_fn(tr):
            logits, aux = qmodel({**frozen, **tr}, *args, return_aux=True, **kw)
            hid = sum(
                ptq._modules.mse(a, b)
                for a, b in zip(aux["hidden_states"], t_aux["hidden_states"], strict=True)
            )
            return hid + distill.soft_cross_entropy(logits, t_logits).mean()

        loss, grads = jax.value_and_grad(loss_fn)(trainable)
        updates, opt = tx.update(grads, opt, trainable)
        return optax.apply_updates(trainable, updates), opt, loss

    for t in range(steps):
        host = data.batch_at(s.train_data, t, config.batch_size, seed=config.seed)
        batch = {k: jnp.asarray(v) for k, v in host.items()}
        trainable, opt, loss = step(trainable, opt, frozen, float_vars, batch)
        if config.log_every and (t + 1) % config.log_every == 0:
            writer.write_scalars(t + 1, {"qat_loss": float(loss)})
    n_train = len(next(iter(s.train_data.values())))
    info = {"steps": steps, "train_samples": min(steps * config.batch_size, n_train)}
    return {**frozen, **jax.block_until_ready(trainable)}, info


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Runs ``config.method`` at ``config.bits`` from the float model; returns the results."""
    config = _float_config(config)
    cfg, rules = validate(config)
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    float_vars = _float.float_variables(config, workdir)
    float_vars = {"params": float_vars["params"]}
    results: dict[str, Any] = {
        "float_accuracy": _pipeline.make_evaluator(s)(float_vars)["accuracy"]
    }

    # Calibration set and round-to-nearest PTQ (the common starting point).
    host = data.batch_at(s.train_data, 0, config.calib_size, seed=config.seed + 11)
    calib = {k: jnp.asarray(v) for k, v in host.items() if k != "label"}
    start = time.perf_counter()
    chunks = [
        {k: v[i : i + config.eval_batch_size] for k, v in calib.items()}
        for i in range(0, config.calib_size, config.eval_batch_size)
    ]
    qat_params, qmodel = qat.prepare(s.model, float_vars, rules, chunks)
    results["rtn_time_s"] = time.perf_counter() - start
    evaluate_q = _pipeline.make_evaluator(s, apply_fn=qmodel)
    results["rtn_accuracy"] = evaluate_q(qat_params)["accuracy"]
    log.info("float %.4f, RTN %s %.4f", results["float_accuracy"], config.bits,
             results["rtn_accuracy"])  # fmt: skip

    part = ptq.partition_modules(float_vars["params"], config.num_modules)
    mods, fp_vars, qvars = ptq.build_modules(
        s.model, float_vars, qat_params, rules, part, train_weights=config.train_weights
    )
    results["recon_error_rtn"] = sum(
        ptq.reconstruction_error(mods, qvars, fp_vars, calib, cfg.batch_size)
    )

    def log_module(k, t, loss):
        writer.write_scalars(t, {f"loss_module{k}": loss})

    def log_par(t, losses):
        writer.write_scalars(t, {f"loss_module{k}": v for k, v in enumerate(losses)})

    details: dict[str, Any] = {"partition": [list(g) for g in part.layers]}
    start = time.perf_counter()
    method = config.method
    steps_per_module = 0
    passes = 0
    train_samples = config.calib_size
    if method == "rem":
        qat_params, info = ptq.rem(
            qmodel, float_vars, qat_params, calib, cfg,
            callback=lambda t, v: writer.write_scalars(t, {"rem_loss": v}),
            log_every=config.log_every,
        )  # fmt: skip
        steps_per_module, passes = cfg.steps, cfg.steps * cfg.batch_size
    elif method in ("mrem_seq", "mrem_par"):
        if method == "mrem_seq":
            qvars, info = ptq.mrem_sequential(
                mods, fp_vars, qvars, calib, cfg, callback=log_module, log_every=config.log_every
            )
        else:
            qvars, info = ptq.mrem_parallel(
                mods, fp_vars, qvars, calib, cfg, callback=log_par, log_every=config.log_every
            )
        qat_params = {**qat_params, **ptq.merge_qvars(part, qvars)}
        steps_per_module = cfg.steps
        passes = cfg.steps * cfg.batch_size * len(mods)
    elif method == "qat":
        qat_params, info = _qat(config, s, qmodel, float_vars, qat_params, writer)
        steps_per_module, passes = info["steps"], info["steps"] * config.batch_size
        train_samples = info["train_samples"]
    else:
        info = {}
    results["method_time_s"] = time.perf_counter() - start
    details.update(info)
    results["accuracy"] = evaluate_q(qat_params)["accuracy"]
    mods_after = ptq.build_modules(s.model, float_vars, qat_params, rules, part)
    errors = ptq.reconstruction_error(mods_after[0], mods_after[2], fp_vars, calib, cfg.batch_size)
    details["recon_error_per_module"] = errors
    results["recon_error"] = sum(errors)
    results["calib_samples"] = config.calib_size if method != "qat" else 0
    results["train_samples"] = train_samples
    results["sample_passes"] = passes
    results["steps_per_module"] = steps_per_module
    results["num_modules"] = config.num_modules
    results["num_devices"] = config.num_modules if method == "mrem_par" else 1
    results["peak_memory_bytes"], details["peak_memory_source"] = peak_memory()
    details["method"], details["bits"] = method, config.bits
    train.write_json_atomic(pathlib.Path(workdir) / "details.json", details)
    writer.write_results(results)
    log.info("results: %s", {k: round(float(v), 4) for k, v in results.items()})
    return results
