"""Post-training quantization and quantization-aware training (QAT), optionally with distillation.

Pipeline: float model (pretrained PyTorch ResNet weights, a finished float run, or trained here)
→ calibrated fake-quant model (``quant.prepare``; its accuracy is the PTQ number) → QAT for
``num_steps`` (latent weights and learnable quantizer leaves trained together through the STEs; with
``kd_alpha > 0`` the float model is the teacher) → ``quant.convert`` to packed QArrays and the
integer serving forward, whose accuracy and bytes are reported.

Writes ``results.json`` with ``float_accuracy``, ``ptq_accuracy``, ``qat_accuracy``,
``serving_accuracy``, ``float_bytes``, ``packed_bytes`` and ``compression_ratio``; resumes QAT from
``workdir/checkpoints``.
"""

from __future__ import annotations

import json
import logging
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from efficient_jax import cost, data, distill, models, parallel, quant, train
from efficient_jax.quant import QUANT, STATS
from efficient_jax.trainers import _pipeline
from efficient_jax.trainers.classification import train_model

log = logging.getLogger("efficient_jax")


def load_float_variables(
    config: ml_collections.ConfigDict, s: _pipeline.Setup, workdir: str
) -> dict[str, Any]:
    """The float model: ``init_from_pytorch`` > ``float_workdir`` > trained here for
    ``float_steps`` steps (in ``workdir/float``, resumable)."""
    if config.get("init_from_pytorch"):
        path = _pipeline.resolve_path(config, config.init_from_pytorch)
        _, variables = models.load_pytorch_resnet(path)
        return variables
    if config.get("float_workdir"):
        fdir = pathlib.Path(config.float_workdir)
        cfg_file = fdir / "config.json"
        if not cfg_file.exists():
            raise FileNotFoundError(
                f"float_workdir {fdir} has no config.json; run the float config there first."
            )
        fconfig = ml_collections.ConfigDict(json.loads(cfg_file.read_text()))
        fsetup = _pipeline.setup(fconfig)
        ckpt = train.Checkpointer(fdir / "checkpoints")
        state, step = ckpt.maybe_restore(_pipeline.init_state(fsetup))
        ckpt.close()
        if step is None:
            raise FileNotFoundError(f"No checkpoint in {fdir / 'checkpoints'} to start from.")
        return jax.device_get(train.state_variables(state))
    if not config.get("float_steps"):
        raise ValueError("No float model: set init_from_pytorch, float_workdir or float_steps > 0.")
    fconfig = ml_collections.ConfigDict(config.to_dict())
    fconfig.num_steps = config.float_steps
    fsetup = _pipeline.setup(fconfig)
    writer = train.MetricWriter(f"{workdir}/float")
    state = train_model(fsetup, f"{workdir}/float", writer)
    return jax.device_get(train.state_variables(state))


def quant_rules(config: ml_collections.ConfigDict) -> list[quant.QuantRule]:
    """Rules from ``config.quant``: ``preset``, ``keep_8bit_regex``, ``rowwise_embedding_regex``."""
    q = config.quant
    return quant.preset_rules(
        q.preset,
        keep_8bit_regex=q.get("keep_8bit_regex") or None,
        rowwise_embedding_regex=q.get("rowwise_embedding_regex") or None,
    )


def _calibration_batches(s: _pipeline.Setup, n: int) -> list[dict[str, Any]]:
    if n <= 0:
        raise ValueError(f"config.calib_batches must be positive; got {n}.")
    out = []
    for i in range(n):
        host = data.batch_at(s.train_data, i, s.config.batch_size, seed=s.config.seed + 7)
        out.append(s.preprocess(jax.tree.map(jnp.asarray, host), None))
    return out


def _trainable_apply(qmodel: quant.QuantizedModel, stats: Any):
    """``apply(variables, ...)`` where ``variables["params"] = {"params", "quant"}``."""

    def apply(variables, *args, **kwargs):
        full = {
            "params": variables["params"]["params"],
            QUANT: variables["params"][QUANT],
            STATS: stats,
        }
        if variables.get("batch_stats"):
            full["batch_stats"] = variables["batch_stats"]
        return qmodel(full, *args, **kwargs)

    return apply


def _kd_loss(alpha: float, temperature: float):
    def loss(logits: jax.Array, batch: dict[str, Any]) -> jax.Array:
        kd = distill.soft_cross_entropy(logits, batch["teacher_logits"], temperature)
        ce = jnp.mean(train.softmax_cross_entropy(logits, batch["label"]))
        return alpha * kd + (1.0 - alpha) * ce

    return loss


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Runs PTQ, then QAT for ``config.num_steps`` (0: PTQ only); returns the results dict."""
    rules = quant_rules(config)  # Validates the preset before any work.
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    float_vars = load_float_variables(config, s, workdir)
    evaluate = _pipeline.make_evaluator(s)
    results: dict[str, float] = {"float_accuracy": evaluate(float_vars)["accuracy"]}
    log.info("float accuracy %.4f", results["float_accuracy"])

    # Calibrated fake-quant model = post-training quantization.
    calib = _calibration_batches(s, config.calib_batches)
    qat_params, qmodel = quant.prepare(s.model, float_vars, rules, calib)
    evaluate_q = _pipeline.make_evaluator(s, apply_fn=qmodel)
    results["ptq_accuracy"] = evaluate_q(qat_params)["accuracy"]
    log.info("PTQ (%s) accuracy %.4f", config.quant.preset, results["ptq_accuracy"])

    # Quantization-aware training of latents + quantizer leaves.
    stats = qat_params[STATS]
    apply = _trainable_apply(qmodel, stats)
    trainable = {"params": qat_params["params"], QUANT: qat_params[QUANT]}
    batch_stats = qat_params.get("batch_stats", {})
    if config.num_steps > 0:
        tx = s.tx
        state = {
            "params": trainable,
            "batch_stats": batch_stats,
            "opt": tx.init(trainable),
            "step": jnp.zeros((), jnp.int32),
        }
        state = parallel.replicate(state, s.mesh)
        kd = config.get("kd_alpha", 0.0)
        loss = _kd_loss(kd, config.get("kd_temperature", 1.0)) if kd > 0 else None
        base_step = train.make_train_step(apply, tx, seed=config.seed, batch_loss_fn=loss)
        teacher_vars = parallel.replicate(float_vars, s.mesh)
        aug_key = jax.random.key(config.seed + 1)

        def step(state, batch):
            batch = s.preprocess(batch, jax.random.fold_in(aug_key, state["step"]))
            if kd > 0:
                args, kwargs = train.model_inputs(batch)
                teacher = s.model.apply(teacher_vars, *args, train=False, **kwargs)
                batch = {**batch, "teacher_logits": jax.lax.stop_gradient(teacher)}
            return base_step(state, batch)

        ckpt = train.Checkpointer(f"{workdir}/checkpoints", max_to_keep=2)
        state, resumed = ckpt.maybe_restore(state)
        if resumed is not None:
            log.info("Resumed QAT from step %d", resumed)
        try:
            state = train.fit(
                parallel.data_parallel_step(step, s.mesh),
                state,
                _pipeline.batch_fn(s),
                num_steps=config.num_steps,
                writer=writer,
                checkpointer=ckpt,
                log_every=config.log_every,
                checkpoint_every=config.get("checkpoint_every") or None,
                desc="qat",
            )
        finally:
            ckpt.close()
        trainable, batch_stats = jax.device_get((state["params"], state["batch_stats"]))
    qat_params = {**trainable, STATS: stats}
    if batch_stats:
        qat_params["batch_stats"] = batch_stats
    results["qat_accuracy"] = evaluate_q(qat_params)["accuracy"]

    # Packed serving model.
    serving_params, serve = quant.convert(qat_params, rules, model=qmodel)
    results["serving_accuracy"] = _pipeline.make_evaluator(s, apply_fn=serve)(serving_params)[
        "accuracy"
    ]
    results["float_bytes"] = cost.model_bytes_from_tree(float_vars)
    results["packed_bytes"] = cost.model_bytes_from_tree(serving_params)
    results["compression_ratio"] = results["float_bytes"] / results["packed_bytes"]
    results["steps"] = int(config.num_steps)
    writer.write_results(results)
    log.info("results: %s", {k: round(float(v), 4) for k, v in results.items()})
    return results
