"""Plot and markdown tables of a cascades run (``trainers/cascades.py``'s ``cascades.json``)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_accuracy_vs_flops(detail: dict[str, Any], path: str, title: str = "") -> None:
    """Accuracy (%) vs average FLOPs (log): single models, ensembles, the cascade curve."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=120)
    ens = detail["ensembles"]
    if ens:
        ax.scatter(
            [e["flops"] for e in ens],
            [100 * e["accuracy"] for e in ens],
            s=14,
            c="tab:gray",
            alpha=0.5,
            label="ensembles",
        )
    curve = sorted(detail["curve"], key=lambda r: r["avg_flops"])
    ax.plot(
        [r["avg_flops"] for r in curve],
        [100 * r["accuracy"] for r in curve],
        "-o",
        c="tab:blue",
        ms=3,
        label="cascades (selected on held-out)",
    )
    for n, (row) in sorted(detail["matched"].items()):
        ax.scatter(
            row["avg_flops"],
            100 * row["accuracy"],
            marker="*",
            s=140,
            zorder=5,
            label=f"{n}-model cascade matching the best single model",
        )
    singles = detail["singles"]
    ax.scatter(
        [s["flops"] for s in singles],
        [100 * s["accuracy"] for s in singles],
        c="tab:red",
        s=36,
        zorder=4,
        label="single models",
    )
    for s in singles:
        ax.annotate(
            s["name"],
            (s["flops"], 100 * s["accuracy"]),
            fontsize=7,
            xytext=(3, -9),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("average FLOPs per example (log scale)")
    ax.set_ylabel("accuracy on the evaluation half (%)")
    ax.set_title(title or "Accuracy vs average FLOPs")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(row: dict[str, Any]) -> str:
    exits = "/".join(f"{100 * f:.0f}" for f in row["exit_fractions"])
    return (
        f"{row['members']} | {100 * row['accuracy']:.2f} | {row['avg_flops']:.3g} | "
        f"{row['worst_flops']:.3g} | {exits}"
    )


def markdown(detail: dict[str, Any]) -> str:
    """Markdown tables: single models, matched cascades, and the Table-5.3 analogue."""
    lines = ["| model | accuracy % | FLOPs |", "|---|---|---|"]
    for s in detail["singles"]:
        lines.append(f"| {s['name']} | {100 * s['accuracy']:.2f} | {s['flops']:.3g} |")
    lines += [
        "",
        "Cascades of exactly n models matching the best single model "
        f"({detail['best_single']}), selected on held-out:",
        "",
        "| n | cascade | accuracy % | avg FLOPs | worst FLOPs | exits % per stage |",
        "|---|---|---|---|---|---|",
    ]
    for n, row in sorted(detail["matched"].items()):
        lines.append(f"| {n} | {_fmt(row)} |")
    lines += [
        "",
        f"Most accurate cascades within the best single model's FLOPs ({detail['best_single']}):",
        "",
        "| n | cascade | accuracy % | avg FLOPs | worst FLOPs | exits % per stage |",
        "|---|---|---|---|---|---|",
    ]
    for n, row in sorted(detail.get("same_flops", {}).items()):
        lines.append(f"| {n} | {_fmt(row)} |")
    if detail.get("fixed"):
        lines += [
            "",
            "Named cascades, thresholds matched on held-out to their last member's accuracy:",
            "",
            "| cascade | accuracy % | avg FLOPs | worst FLOPs | exits % per stage | last member "
            "alone % | FLOPs vs last member | combine | target met on held-out |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in detail["fixed"]:
            lines.append(
                f"| {_fmt(row)} | {100 * row['reference_accuracy']:.2f} | "
                f"{row['flops_ratio']:.3f}× | {row['combine']} | {row['feasible']} |"
            )
    lines += [
        "",
        "| single | acc % | FLOPs | cascade @ ≤ FLOPs | acc % | avg FLOPs | Δ acc | "
        "cascade @ ≥ acc | acc % | avg FLOPs | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in detail["table"]:
        a, b = r["same_flops"], r["same_accuracy"]
        lines.append(
            f"| {r['single']} | {100 * r['single_accuracy']:.2f} | {r['single_flops']:.3g} | "
            f"{a['members']} | {100 * a['accuracy']:.2f} | {a['avg_flops']:.3g} | "
            f"{100 * (a['accuracy'] - r['single_accuracy']):+.2f} | {b['members']} | "
            f"{100 * b['accuracy']:.2f} | {b['avg_flops']:.3g} | "
            f"{r['single_flops'] / b['avg_flops']:.2f}× |"
        )
    return "\n".join(lines) + "\n"
