"""BinaryBERT analysis: per-matrix sensitivities, quantized points, sharpness and plots.

Helpers of :mod:`efficient_jax.trainers.binarybert` (Bai 2021, §5.2.3 sensitivities for adaptive
splitting; Fig. 5.3 sharpness per weight group).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax import quant, train
from efficient_jax.trainers import _pipeline

GROUP_REGEX = {  # Sharpness groups (Fig. 5.3).
    "MHA-QK": r"attention/(query|key)/kernel$",
    "MHA-V": r"attention/value/kernel$",
    "MHA-O": r"attention/output/kernel$",
    "FFN-Mid": r"intermediate/kernel$",
    "FFN-Out": r"layer_\d+/output/kernel$",
}


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
