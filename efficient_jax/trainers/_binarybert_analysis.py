"""BinaryBERT analysis wiring: sensitivities and sharpness on held-out data, and plots.

Helpers of :mod:`efficient_jax.trainers.binarybert`; the algorithms are
:func:`efficient_jax.binarybert.split_sensitivities` (§5.2.3, adaptive splitting) and
:func:`efficient_jax.binarybert.group_sharpness` (Fig. 5.3).
"""

from __future__ import annotations

import jax.numpy as jnp

from efficient_jax import binarybert, train
from efficient_jax.trainers import _pipeline

GROUP_REGEX = binarybert.SHARPNESS_GROUPS  # Sharpness groups (Fig. 5.3).


def sensitivities(s, half_qvars, tern_model, heldout) -> tuple[dict, dict]:
    """Per-matrix sensitivity (§5.2.3) with the evaluator's loss on ``heldout``."""

    def loss(forward, variables):
        return _pipeline.make_evaluator(s, split=heldout, apply_fn=forward)(variables)["loss"]

    return binarybert.split_sensitivities(half_qvars, tern_model, loss)


def sharpness(s, params, batch, *, num_iters: int, key) -> dict[str, float]:
    """λ_max of the CE loss w.r.t. each weight group at ``params`` (float activations)."""
    args, kwargs = train.model_inputs(batch)

    def loss_fn(p):
        logits = s.model.apply({"params": p}, *args, train=False, **kwargs)
        return jnp.mean(train.softmax_cross_entropy(logits, batch["label"]))

    return binarybert.group_sharpness(loss_fn, params, num_iters=num_iters, key=key)


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
