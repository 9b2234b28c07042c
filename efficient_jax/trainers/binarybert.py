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

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from efficient_jax import cost, data, distill, models, parallel, quant, train
from efficient_jax.trainers import _pipeline
from efficient_jax.trainers.qat import _calibration_batches, load_float_variables

log = logging.getLogger("efficient_jax")

GROUP_REGEX = {  # Sharpness groups (Fig. 5.3).
    "MHA-QK": r"attention/(query|key)/kernel$",
    "MHA-V": r"attention/value/kernel$",
    "MHA-O": r"attention/output/kernel$",
    "FFN-Mid": r"intermediate/kernel$",
    "FFN-Out": r"layer_\d+/output/kernel$",
}


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


def _subset_loss(s: _pipeline.Setup, split: dict, forward) -> Callable[[dict], float]:
    evaluate = _pipeline.make_evaluator(s, split=split, apply_fn=forward)
    return lambda v: evaluate(v)["loss"]


def sensitivities(s, half_qvars, tern_model, heldout) -> tuple[dict, dict]:
    """Per-matrix sensitivity (§5.2.3): loss decrease of the half-width binary model when one
    part type / layer / other matrix is kept in float, normalised by its parameter count."""
    names = quant.ternary_layers(tern_model)
    bin_vars, bin_model = quant.tws_split_model(half_qvars, tern_model, select=[])
    base = _subset_loss(s, heldout, bin_model)(bin_vars)
    params = bin_vars["params"]
    groups: dict[str, list[str]] = {}
    for n in names:
        part, layer = quant.bert_module_group(n)
        groups.setdefault(part, []).append(n)
        if layer is not None:
            groups.setdefault(f"layer_{layer}", []).append(n)
    gains, sizes = {}, {}
    for g, members in groups.items():
        layers = {
            p: dataclasses.replace(sp, rule=dataclasses.replace(sp.rule, weight=None))
            if sp.name in members
            else sp
            for p, sp in bin_model.layers.items()
        }
        fp_model = dataclasses.replace(bin_model, layers=layers)
        gains[g] = base - _subset_loss(s, heldout, fp_model)(bin_vars)
        sizes[g] = sum(
            int(np.prod(quant_layer_weight(params, bin_model, m).shape)) for m in members
        )
    return quant.sensitivity_scores(gains, sizes, names), gains


def quant_layer_weight(params, model, name):
    spec = next(sp for sp in model.layers.values() if sp.name == name)
    node = params
    for k in spec.path:
        node = node[k]
    return node[spec.weight_name]


def quantized_point(params, rules) -> dict:
    """Float params with every rule-matched weight replaced by its quantized value."""
    picked = quant.quantize_model(lambda v, *a, **k: None, {"params": params}, rules).layers
    out = params
    for path, spec in picked.items():
        r = spec.rule
        if r.weight is None:
            continue
        node = out
        for k in path:
            node = node[k]
        w = quant.apply_quantizer(
            r.weight, node[spec.weight_name], {}, bits=r.weight_bits, **r.weight_options()
        )
        out = _tree_set(out, (*path, spec.weight_name), w)
    return out


def _tree_set(tree, path, value):
    out = dict(tree)
    out[path[0]] = value if len(path) == 1 else _tree_set(tree[path[0]], path[1:], value)
    return out


def sharpness(s, params, batch, *, num_iters: int, key) -> dict[str, float]:
    """λ_max of the CE loss w.r.t. each weight group at ``params`` (float activations)."""
    flat = {
        "/".join(str(getattr(k, "key", k)) for k in kp): v
        for kp, v in jax.tree.flatten_with_path(params)[0]
    }
    args, kwargs = train.model_inputs(batch)
    out = {}
    for g, rx in GROUP_REGEX.items():
        names = sorted(n for n in flat if re.search(rx, n))
        group, put = quant.group_params(params, names)

        def loss_fn(u, put=put):
            logits = s.model.apply({"params": put(u)}, *args, train=False, **kwargs)
            return jnp.mean(train.softmax_cross_entropy(logits, batch["label"]))

        lam, _ = quant.top_hessian_eigenvalue(loss_fn, group, num_iters=num_iters, key=key)
        out[g] = float(lam)
    return out


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


def plot_results(r: dict[str, float], metrics: list[dict], out_dir: str, prefix: str = "") -> None:
    """``<prefix>accuracy_vs_size.png``, ``<prefix>sharpness.png``, ``<prefix>curves.png``."""
    from efficient_jax.trainers._plots import plot_accuracy_vs_size, plt

    rows = [
        {"method": m, "accuracy": r[f"{k}_accuracy"], "model_kb": r[f"{k}_bytes"] / 1024}
        for m, k in [
            ("FP", "fp"),
            ("TWN half", "ternary"),
            ("TWS binary", "tws"),
            ("BWN direct", "bwn"),
        ]
    ]
    rows += [
        {
            "method": f"adaptive {k.split('_')[1]}%",
            "accuracy": r[f"{k}_accuracy"],
            "model_kb": r[f"{k}_bytes"] / 1024,
        }
        for k in sorted(
            {
                k[: -len("_accuracy")]
                for k in r
                if k.startswith("adaptive_") and k.endswith("_accuracy")
            }
        )
    ]
    rows.append(
        {
            "method": "BWN half (no ft)",
            "accuracy": r["half_binary_no_ft_accuracy"],
            "model_kb": r["half_binary_bytes"] / 1024,
        }
    )
    plot_accuracy_vs_size(rows, f"{out_dir}/{prefix}accuracy_vs_size.png")

    points = [p for p in ("fp", "twn_ptq", "bwn_ptq", "bwn_qat") if f"lambda_max/{p}/MHA-V" in r]
    if points:
        fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
        width = 0.8 / len(points)
        for i, p in enumerate(points):
            vals = [r[f"lambda_max/{p}/{g}"] for g in GROUP_REGEX]
            xs = [j + i * width for j in range(len(GROUP_REGEX))]
            bars = ax.bar(xs, [max(abs(v), 1e-8) for v in vals], width, label=p)
            for b, v in zip(bars, vals, strict=True):
                if v < 0:  # largest-magnitude eigenvalue is negative: hatched
                    b.set_hatch("//")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(GROUP_REGEX))], list(GROUP_REGEX))
        ax.set_yscale("log")
        ax.set_ylabel("|top Hessian eigenvalue| (hatched: < 0)")
        ax.set_title("Sharpness per weight group (SST-2 train batch)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{out_dir}/{prefix}sharpness.png")
        plt.close(fig)

    stages = ["ternary_int", "ternary_pred", "tws_finetune", "bwn_int", "bwn_pred"]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
    offset = {"ternary_int": 0, "ternary_pred": 0, "tws_finetune": 0, "bwn_int": 0, "bwn_pred": 0}
    steps_of = lambda st: [m["step"] for m in metrics if f"{st}/loss" in m]
    offset["ternary_pred"] = max(steps_of("ternary_int"), default=0)
    offset["tws_finetune"] = offset["ternary_pred"] + max(steps_of("ternary_pred"), default=0)
    offset["bwn_pred"] = max(steps_of("bwn_int"), default=0)
    for st in stages:
        pts = [(m["step"] + offset[st], m[f"{st}/accuracy"]) for m in metrics if f"{st}/loss" in m]
        if pts:
            ax.plot(*zip(*pts), label=st, ls="-" if st.startswith(("ternary", "tws")) else "--")
    ax.set_xlabel("step (stages concatenated)")
    ax.set_ylabel("train batch accuracy")
    ax.set_title("TWS pipeline (solid) vs direct BWN (dashed)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(f"{out_dir}/{prefix}curves.png")
    plt.close(fig)
