"""Post-training quantization and quantization-aware training (QAT), optionally with distillation.

Pipeline: float model (pretrained PyTorch ResNet weights, a finished float run, or trained here)
→ calibrated fake-quant model (``qat.prepare``; its accuracy is the PTQ number) → QAT for
``num_steps`` (latent weights and learnable quantizer leaves trained together through the STEs; with
``kd_alpha > 0`` the float model is the teacher) → ``qat.convert`` to packed QArrays and the
integer serving forward, whose accuracy and bytes are reported.

Writes ``results.json`` with ``float_accuracy``, ``ptq_accuracy``, ``qat_accuracy``,
``serving_accuracy``, ``float_bytes``, ``packed_bytes`` and ``compression_ratio``; resumes QAT from
``workdir/checkpoints``.
"""

from __future__ import annotations

import logging
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from efficient_jax import cost, distill, parallel, qat, train
from efficient_jax.qat import QUANT, STATS
from efficient_jax.trainers import _float, _pipeline

log = logging.getLogger("efficient_jax")


def quant_rules(config: ml_collections.ConfigDict) -> list[qat.QuantRule]:
    """Rules from ``config.quant``: ``preset``, ``keep_8bit_regex``, ``rowwise_embedding_regex``."""
    q = config.quant
    return qat.preset_rules(
        q.preset,
        keep_8bit_regex=q.get("keep_8bit_regex") or None,
        rowwise_embedding_regex=q.get("rowwise_embedding_regex") or None,
    )


def _trainable_apply(qmodel: qat.QuantizedModel, stats: Any):
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
    float_vars = _float.float_variables(config, workdir)
    evaluate = _pipeline.make_evaluator(s)
    results: dict[str, float] = {"float_accuracy": evaluate(float_vars)["accuracy"]}
    log.info("float accuracy %.4f", results["float_accuracy"])

    # Calibrated fake-quant model = post-training quantization.
    calib = _float.calibration_batches(s, config.calib_batches)
    qat_params, qmodel = qat.prepare(s.model, float_vars, rules, calib)
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
    serving_params, serve = qat.convert(qat_params, rules, model=qmodel)
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
