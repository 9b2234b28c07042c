"""BinaryBERT on a tiny BERT: half-width ternary → ternary weight splitting → binary fine-tuning.

Pipeline (Bai 2021, §5.3, Table 5.1), the teacher always the full-width float model:

1. **Half-width ternary** student: the float model shrunk DynaBERT-style (half the heads and FFN
   neurons, hidden size kept; :func:`~efficient_jax.quant.shrink_bert_width`), TWN weights
   (row-wise word embedding) + 8-bit activations, trained with intermediate-layer distillation
   (hidden states + attention scores, ``int_steps``, LR ``int_lr``) then prediction-layer
   distillation (logits, ``pred_steps``, LR ``pred_lr``).
2. **TWS**: every ternary matrix → two binary matrices
   (:func:`~efficient_jax.quant.tws_split_model`); accuracy right after the split equals the
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
import optax

from efficient_jax import cost, data, distill, models, parallel, quant, train
from efficient_jax.trainers import _pipeline
from efficient_jax.trainers._binarybert_analysis import (
    plot_results,
    quantized_point,
    sensitivities,
    sharpness,
)
from efficient_jax.trainers.qat import _calibration_batches, load_float_variables

log = logging.getLogger("efficient_jax")


def _rules(config: ml_collections.ConfigDict, preset: str) -> list[quant.QuantRule]:
    q = config.quant
    return quant.preset_rules(
        preset,
        keep_8bit_regex=q.get("keep_8bit_regex") or None,
        rowwise_embedding_regex=q.get("rowwise_embedding_regex") or None,
    )


def _tx(config: ml_collections.ConfigDict, lr: float, steps: int) -> optax.GradientTransformation:
    """AdamW, linear decay after 10% warm-up, weight decay 0.01, clip 1 (Table 5.1)."""
    warm = int(config.warmup_fraction * steps)
    sched = train.make_schedule("linear", lr, steps, warm if warm < steps else 0)
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.adamw(sched, weight_decay=config.weight_decay),
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
    trainable, fixed = quant.split_trainable(qvars)
    tx = _tx(config, lr, steps)
    step = distill.make_distill_step(
        quant.QuantStudent(forward, fixed), s.model, tx, seed=config.seed, loss=loss
    )
    state = {"params": trainable, "batch_stats": {}, "opt": tx.init(trainable)}
    state["step"] = jnp.zeros((), jnp.int32)
    state = parallel.replicate(state, s.mesh)
    teacher = parallel.replicate(teacher_vars, s.mesh)
    stage_writer = _PrefixWriter(writer, name)
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
            writer=stage_writer,
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


def _stage_loss(stage: int, head_map=None):
    return quant.feature_distill_loss(head_map) if stage == 1 else "logits"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Runs the whole BinaryBERT comparison; returns the results dict."""
    tern_rules = _rules(config, config.quant.ternary_preset)  # Validate before any work.
    bin_rules = _rules(config, config.quant.binary_preset)
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    float_vars = load_float_variables(config, s, workdir)
    teacher = jax.device_get(float_vars)
    r: dict[str, float] = {}
    evaluate = lambda fwd, v: _pipeline.make_evaluator(s, apply_fn=fwd)(v)["accuracy"]
    r["fp_accuracy"] = evaluate(s.model.apply, float_vars)
    r["fp_bytes"] = cost.model_bytes_from_tree(float_vars["params"])
    calib = _calibration_batches(s, config.calib_batches)

    # --- 1. Half-width ternary student, two-stage KD -------------------------------------------
    mk = dict(config.model_kwargs)
    heads = mk.get("num_heads", 2)
    head_size = mk["hidden_size"] // heads
    keep_heads = max(1, int(round(heads * config.width_mult)))
    keep_inter = max(1, int(round(mk["intermediate_size"] * config.width_mult)))
    half_kwargs = {**mk, "num_heads": keep_heads, "head_size": head_size}
    half_kwargs["intermediate_size"] = keep_inter
    half_model = models.get_model(config.model, **half_kwargs)
    half_params, head_map = quant.shrink_bert_width(
        float_vars["params"], num_heads=heads, keep_heads=keep_heads, keep_intermediate=keep_inter
    )
    r["half_fp_init_accuracy"] = evaluate(half_model.apply, {"params": half_params})
    half_q, tern = quant.prepare(half_model, {"params": half_params}, tern_rules, calib)
    r["ternary_ptq_accuracy"] = evaluate(tern, half_q)
    log.info(
        "FP %.4f, half FP init %.4f, half ternary PTQ %.4f",
        r["fp_accuracy"],
        r["half_fp_init_accuracy"],
        r["ternary_ptq_accuracy"],
    )
    kw = dict(workdir=workdir, writer=writer)
    half_q = distill_stage(
        "ternary_int",
        s,
        tern,
        half_q,
        teacher,
        loss=_stage_loss(1, head_map),
        lr=config.int_lr,
        steps=config.int_steps,
        **kw,
    )
    half_q = distill_stage(
        "ternary_pred",
        s,
        tern,
        half_q,
        teacher,
        loss="logits",
        lr=config.pred_lr,
        steps=config.pred_steps,
        **kw,
    )
    r["ternary_accuracy"] = evaluate(tern, half_q)
    tern_serving, _ = quant.convert(half_q, model=tern)
    r["ternary_bytes"] = cost.model_bytes_from_tree(tern_serving["params"])

    # --- 2-3. TWS and split fine-tuning --------------------------------------------------------
    split_q, split_model = quant.tws_split_model(half_q, tern)
    r["tws_at_split_accuracy"] = evaluate(split_model, split_q)
    split_q = distill_stage(
        "tws_finetune",
        s,
        split_model,
        split_q,
        teacher,
        loss="logits",
        lr=config.split_lr,
        steps=config.split_steps,
        **kw,
    )
    r["tws_accuracy"] = evaluate(split_model, split_q)
    packed, apply_packed = quant.export_split(split_q, split_model)
    r["tws_bytes"] = cost.model_bytes_from_tree(packed["params"]) + cost.model_bytes_from_tree(
        packed[quant.SPLIT]
    )
    r["tws_packed_accuracy"] = evaluate(apply_packed, packed)
    half_bin_q, half_bin = quant.tws_split_model(half_q, tern, select=[])
    r["half_binary_bytes"] = _bytes(half_bin_q, half_bin)
    r["half_binary_no_ft_accuracy"] = evaluate(half_bin, half_bin_q)
    log.info(
        "ternary %.4f, TWS at split %.4f, TWS fine-tuned %.4f",
        r["ternary_accuracy"],
        r["tws_at_split_accuracy"],
        r["tws_accuracy"],
    )

    # --- 4. Direct binary baseline, same number of steps --------------------------------------
    full_q, bwn = quant.prepare(s.model, float_vars, bin_rules, calib)
    r["bwn_ptq_accuracy"] = evaluate(bwn, full_q)
    full_q = distill_stage(
        "bwn_int",
        s,
        bwn,
        full_q,
        teacher,
        loss=_stage_loss(1),
        lr=config.int_lr,
        steps=config.int_steps,
        **kw,
    )
    full_q = distill_stage(
        "bwn_pred",
        s,
        bwn,
        full_q,
        teacher,
        loss="logits",
        lr=config.pred_lr,
        steps=config.pred_steps + config.split_steps,
        **kw,
    )
    r["bwn_accuracy"] = evaluate(bwn, full_q)
    bwn_serving, _ = quant.convert(full_q, model=bwn)
    r["bwn_bytes"] = cost.model_bytes_from_tree(bwn_serving["params"])
    log.info("direct BWN %.4f", r["bwn_accuracy"])

    # --- 5. Adaptive splitting -----------------------------------------------------------------
    if config.adaptive_budgets:
        heldout = jax.tree.map(np.asarray, _heldout(s, config.sensitivity_examples))
        sens, gains = sensitivities(s, half_q, tern, heldout)
        writer.write_scalars(0, {f"gain/{k}": v for k, v in gains.items()})
        extra = {}
        for n in sens:
            one_q, one_m = quant.tws_split_model(half_q, tern, select=[n])
            extra[n] = _bytes(one_q, one_m) - r["half_binary_bytes"]
        encoder = sum(v for n, v in extra.items() if "embeddings" not in n)
        for frac in config.adaptive_budgets:
            chosen = quant.select_splits(sens, extra, frac * encoder, unit=16)
            a_q, a_m = quant.tws_split_model(half_q, tern, select=chosen)
            tag = f"adaptive_{int(round(100 * frac))}"
            a_q = distill_stage(
                tag,
                s,
                a_m,
                a_q,
                teacher,
                loss="logits",
                lr=config.split_lr,
                steps=config.split_steps,
                **kw,
            )
            r[f"{tag}_accuracy"] = evaluate(a_m, a_q)
            r[f"{tag}_bytes"] = _bytes(a_q, a_m)
            r[f"{tag}_num_split"] = len(chosen)
            log.info("%s: split %s -> %.4f", tag, chosen, r[f"{tag}_accuracy"])

    # --- 6. Sharpness --------------------------------------------------------------------------
    if config.sharpness_iters:
        batch = jax.tree.map(jnp.asarray, _heldout(s, config.sharpness_examples))
        key = jax.random.key(config.seed)
        points = {
            "fp": float_vars["params"],
            "twn_ptq": quantized_point(float_vars["params"], tern_rules),
            "bwn_ptq": quantized_point(float_vars["params"], bin_rules),
            "bwn_qat": quantized_point(full_q["params"], bin_rules),
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


def _bytes(qvars: dict[str, Any], model: quant.SplitBinaryModel) -> int:
    packed, _ = quant.export_split(qvars, model)
    return cost.model_bytes_from_tree(packed["params"]) + cost.model_bytes_from_tree(
        packed[quant.SPLIT]
    )
