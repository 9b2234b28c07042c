"""BinaryBERT on a tiny BERT: half-width ternary → ternary weight splitting → binary fine-tuning.

Pipeline (Bai 2021, §5.3, Table 5.1), the teacher always the full-width float model:

1. **Half-width ternary** student: the float model shrunk DynaBERT-style (half the heads and FFN
   neurons, hidden size kept; :func:`~efficient_jax.binarybert.shrink_bert`), TWN weights
   (row-wise word embedding) + 8-bit activations, trained with intermediate-layer distillation
   (hidden states + attention scores, ``int_steps``, LR ``int_lr``) then prediction-layer
   distillation (logits, ``pred_steps``, LR ``pred_lr``).
2. **TWS**: every ternary matrix → two binary matrices
   (:func:`~efficient_jax.binarybert.tws_split_model`); accuracy right after the split equals the
   ternary accuracy.
3. **Split fine-tuning**: logits KD with a fresh optimizer (``split_steps``, LR ``split_lr``).
4. **Direct binary baseline**: the full-width float model with BWN weights, the same two stages
   with the same total number of steps (``int_steps``, ``pred_steps + split_steps``).
5. **Adaptive splitting** (``adaptive_budgets``): sensitivities of the half-width binary model,
   knapsack selection, split, fine-tune like 3.
6. **Sharpness**: top Hessian eigenvalue per weight group for FP, ternary and binary weights.

Writes ``results.json`` (accuracies, packed bytes, ratios, λ_max), ``metrics.jsonl`` (each stage's
steps, prefixed), ``config.json``; every stage checkpoints in ``workdir/<stage>/`` and resumes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from efficient_jax import binarybert, cost, data, distill, models, parallel, qat, train
from efficient_jax.trainers import _float, _pipeline
from efficient_jax.trainers._binarybert_analysis import plot_results, sensitivities, sharpness

log = logging.getLogger("efficient_jax")


def _rules(config: ml_collections.ConfigDict, preset: str) -> list[qat.QuantRule]:
    q = config.quant
    return qat.preset_rules(
        preset,
        keep_8bit_regex=q.get("keep_8bit_regex") or None,
        rowwise_embedding_regex=q.get("rowwise_embedding_regex") or None,
    )


def distill_stage(
    name: str,
    s: _pipeline.Setup,
    forward: Callable[..., Any],
    qvars: dict[str, Any],
    teacher_vars: dict[str, Any],
    *,
    loss: Any,
    lr: float,
    steps: int,
    workdir: str,
    writer: train.MetricWriter,
) -> dict[str, Any]:
    """One distillation stage of a fake-quant student (fresh optimizer); returns its variables."""
    if steps <= 0:
        return qvars
    config = s.config
    trainable, fixed = binarybert.split_trainable(qvars)
    tx = binarybert.stage_optimizer(
        lr,
        steps,
        warmup_fraction=config.warmup_fraction,
        weight_decay=config.weight_decay,
        grad_clip=config.grad_clip,
    )
    student = binarybert.QuantStudent(forward, fixed)
    step = distill.make_distill_step(student, s.model, tx, seed=config.seed, loss=loss)
    state = {"params": trainable, "batch_stats": {}, "opt": tx.init(trainable)}
    state["step"] = jnp.zeros((), jnp.int32)
    state = parallel.replicate(state, s.mesh)
    teacher = parallel.replicate(teacher_vars, s.mesh)
    ckpt = train.Checkpointer(f"{workdir}/{name}/checkpoints", max_to_keep=1)
    state, resumed = ckpt.maybe_restore(state)
    if resumed is not None:
        log.info("%s: resumed from step %d", name, resumed)
    try:
        state = train.fit(
            parallel.data_parallel_step(lambda st, b: step(st, teacher, b), s.mesh),
            state,
            _pipeline.batch_fn(s),
            num_steps=steps,
            writer=_PrefixWriter(writer, name),
            checkpointer=ckpt,
            log_every=config.log_every,
            checkpoint_every=config.get("checkpoint_every") or None,
            desc=name,
        )
    finally:
        ckpt.close()
    return {**jax.device_get(state["params"]), **fixed}


class _PrefixWriter:
    """Writes a stage's scalars to the run's metrics with ``<stage>/`` prefixes."""

    def __init__(self, writer: train.MetricWriter, prefix: str):
        self.writer, self.prefix = writer, prefix

    def write_scalars(self, step: int, scalars: dict[str, Any]) -> None:
        self.writer.write_scalars(step, {f"{self.prefix}/{k}": v for k, v in scalars.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.writer, name)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Runs the whole BinaryBERT comparison; returns the results dict."""
    tern_rules = _rules(config, config.quant.ternary_preset)  # Validate before any work.
    bin_rules = _rules(config, config.quant.binary_preset)
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    float_vars = _float.float_variables(config, workdir)
    teacher = jax.device_get(float_vars)
    r: dict[str, float] = {}
    evaluate = lambda fwd, v: _pipeline.make_evaluator(s, apply_fn=fwd)(v)["accuracy"]

    def stage(name, forward, qvars, loss, lr, steps):
        kw = dict(loss=loss, lr=lr, steps=steps, workdir=workdir, writer=writer)
        return distill_stage(name, s, forward, qvars, teacher, **kw)

    r["fp_accuracy"] = evaluate(s.model.apply, float_vars)
    r["fp_bytes"] = cost.model_bytes_from_tree(float_vars["params"])
    calib = _float.calibration_batches(s, config.calib_batches)

    # --- 1. Half-width ternary student, two-stage KD -------------------------------------------
    half_params, half_kwargs, head_map = binarybert.shrink_bert(
        float_vars["params"], config.model_kwargs, width_mult=config.width_mult
    )
    half_model = models.get_model(config.model, **half_kwargs)
    r["half_fp_init_accuracy"] = evaluate(half_model.apply, {"params": half_params})
    half_q, tern = qat.prepare(half_model, {"params": half_params}, tern_rules, calib)
    r["ternary_ptq_accuracy"] = evaluate(tern, half_q)
    log.info(
        "FP %.4f, half FP init %.4f, half ternary PTQ %.4f",
        r["fp_accuracy"],
        r["half_fp_init_accuracy"],
        r["ternary_ptq_accuracy"],
    )
    int_loss = binarybert.feature_distill_loss(head_map)
    half_q = stage("ternary_int", tern, half_q, int_loss, config.int_lr, config.int_steps)
    half_q = stage("ternary_pred", tern, half_q, "logits", config.pred_lr, config.pred_steps)
    r["ternary_accuracy"] = evaluate(tern, half_q)
    tern_serving, _ = qat.convert(half_q, model=tern)
    r["ternary_bytes"] = cost.model_bytes_from_tree(tern_serving["params"])

    # --- 2-3. TWS and split fine-tuning --------------------------------------------------------
    split_q, split_model = binarybert.tws_split_model(half_q, tern)
    r["tws_at_split_accuracy"] = evaluate(split_model, split_q)
    split_q = stage(
        "tws_finetune", split_model, split_q, "logits", config.split_lr, config.split_steps
    )
    r["tws_accuracy"] = evaluate(split_model, split_q)
    packed, apply_packed = binarybert.export_split(split_q, split_model)
    r["tws_bytes"] = binarybert.split_model_bytes(split_q, split_model)
    r["tws_packed_accuracy"] = evaluate(apply_packed, packed)
    half_bin_q, half_bin = binarybert.tws_split_model(half_q, tern, select=[])
    r["half_binary_bytes"] = binarybert.split_model_bytes(half_bin_q, half_bin)
    r["half_binary_no_ft_accuracy"] = evaluate(half_bin, half_bin_q)
    log.info(
        "ternary %.4f, TWS at split %.4f, TWS fine-tuned %.4f",
        r["ternary_accuracy"],
        r["tws_at_split_accuracy"],
        r["tws_accuracy"],
    )

    # --- 4. Direct binary baseline, same number of steps --------------------------------------
    full_q, bwn = qat.prepare(s.model, float_vars, bin_rules, calib)
    r["bwn_ptq_accuracy"] = evaluate(bwn, full_q)
    int_loss = binarybert.feature_distill_loss()
    full_q = stage("bwn_int", bwn, full_q, int_loss, config.int_lr, config.int_steps)
    pred_steps = config.pred_steps + config.split_steps
    full_q = stage("bwn_pred", bwn, full_q, "logits", config.pred_lr, pred_steps)
    r["bwn_accuracy"] = evaluate(bwn, full_q)
    bwn_serving, _ = qat.convert(full_q, model=bwn)
    r["bwn_bytes"] = cost.model_bytes_from_tree(bwn_serving["params"])
    log.info("direct BWN %.4f", r["bwn_accuracy"])

    # --- 5. Adaptive splitting -----------------------------------------------------------------
    if config.adaptive_budgets:
        heldout = jax.tree.map(np.asarray, _heldout(s, config.sensitivity_examples))
        sens, gains = sensitivities(s, half_q, tern, heldout)
        writer.write_scalars(0, {f"gain/{k}": v for k, v in gains.items()})
        extra = binarybert.split_costs(half_q, tern, sens)
        encoder = sum(v for n, v in extra.items() if "embeddings" not in n)
        for frac in config.adaptive_budgets:
            chosen = binarybert.select_splits(sens, extra, frac * encoder, unit=16)
            a_q, a_m = binarybert.tws_split_model(half_q, tern, select=chosen)
            tag = f"adaptive_{int(round(100 * frac))}"
            a_q = stage(tag, a_m, a_q, "logits", config.split_lr, config.split_steps)
            r[f"{tag}_accuracy"] = evaluate(a_m, a_q)
            r[f"{tag}_bytes"] = binarybert.split_model_bytes(a_q, a_m)
            r[f"{tag}_num_split"] = len(chosen)
            log.info("%s: split %s -> %.4f", tag, chosen, r[f"{tag}_accuracy"])

    # --- 6. Sharpness --------------------------------------------------------------------------
    if config.sharpness_iters:
        batch = jax.tree.map(jnp.asarray, _heldout(s, config.sharpness_examples))
        key = jax.random.key(config.seed)
        points = {
            "fp": float_vars["params"],
            "twn_ptq": qat.fake_quant_params(float_vars["params"], tern_rules),
            "bwn_ptq": qat.fake_quant_params(float_vars["params"], bin_rules),
            "bwn_qat": qat.fake_quant_params(full_q["params"], bin_rules),
        }
        for name, p in points.items():
            for g, lam in sharpness(s, p, batch, num_iters=config.sharpness_iters, key=key).items():
                r[f"lambda_max/{name}/{g}"] = lam
            log.info("sharpness %s done", name)

    r["fp_vs_tws_size_ratio"] = r["fp_bytes"] / r["tws_bytes"]
    r["tws_minus_bwn_accuracy"] = r["tws_accuracy"] - r["bwn_accuracy"]
    writer.write_results(r)
    if jax.process_index() == 0:
        plot_results(r, train.read_metrics(workdir), workdir)
    log.info("results: %s", {k: round(float(v), 4) for k, v in r.items()})
    return r


def _heldout(s: _pipeline.Setup, n: int) -> dict[str, Any]:
    """A fixed training subset (seed-shifted) for sensitivities and sharpness."""
    return data.batch_at(s.train_data, 0, n, seed=s.config.seed + 11)
