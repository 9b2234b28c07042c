"""Tables and plots for few-shot pruning runs (trainer ``few_shot_pruning``).

Command (after the runs in docs/RESULTS.md):

    python launch/report_few_shot_pruning.py --runs ch50_k1=/tmp/fsp_runs/ch50_k1 \\
        ch50_k5=/tmp/fsp_runs/ch50_k5 ch50_k10=/tmp/fsp_runs/ch50_k10 \\
        un90_k1=/tmp/fsp_runs/un90_k1 --img docs/img --out /tmp/fsp_report.json

Writes ``<img>/fsp_accuracy_vs_k.png`` (top-1 vs K per method, channel runs),
``<img>/fsp_layer_error.png`` (per-layer estimation error ``L^e`` of w/o CD, CD and SCD for the
first run), ``<img>/fsp_bn_reestimate.png`` (top-1 with the teacher's BatchNorm statistics vs
statistics re-estimated on the few-shot images, for runs made with ``bn_reestimate``) and a flat
JSON; prints a markdown table last (``+BN``: with re-estimated statistics).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METHODS = ("l1_norm", "none", "cd", "scd")
LABELS = {"l1_norm": "L1-norm", "none": "w/o CD", "cd": "CD", "scd": "SCD"}


def _load(workdir: str) -> tuple[dict, list[dict], dict]:
    w = pathlib.Path(workdir)
    results = json.loads((w / "results.json").read_text())
    config = json.loads((w / "config.json").read_text())
    metrics = [json.loads(line) for line in (w / "metrics.jsonl").read_text().splitlines()]
    partial = w / "partial.json"
    if partial.exists():  # Per-seed runs, including those of an unfinished restart.
        done = json.loads(partial.read_text())
        methods = [m for m in METHODS if any(k.startswith(f"{m}/seed") for k in done)]
        tags = {k.split("/seed")[1] for k in done if "/seed" in k}
        seeds = sorted(t for t in tags if all(f"{m}/seed{t}" in done for m in methods))
        for m in methods:  # Only seeds that every method finished.
            for key in ("top1", "top1_bn"):
                accs = [done[f"{m}/seed{t}"].get(key) for t in seeds]
                if accs and all(a is not None for a in accs):
                    results[f"{m}/{key}"] = statistics.fmean(accs)
                    results[f"{m}/{key}_std"] = statistics.pstdev(accs)
        config["seeds"] = seeds
    return results, [m for m in metrics if "layer" in m], config


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", nargs="+", required=True, help="name=workdir pairs")
    p.add_argument("--img", default="docs/img")
    p.add_argument("--out", default="fsp_report.json")
    args = p.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, _, path = item.partition("=")
        if not path:
            raise ValueError(f"--runs entries are name=workdir; got {item!r}.")
        runs[name] = _load(path)
    img = pathlib.Path(args.img)
    img.mkdir(parents=True, exist_ok=True)

    flat, rows = {}, []
    for name, (res, _, cfg) in runs.items():
        row = [name, cfg["structure"], str(cfg["k"]), str(len(cfg["seeds"]))]
        flat[f"{name}/seeds"] = len(cfg["seeds"])
        for m in METHODS:
            cell = []
            for key in ("top1", "top1_bn"):
                if f"{m}/{key}" in res:
                    flat[f"{name}/{m}/{key}"] = res[f"{m}/{key}"]
                    std = res.get(f"{m}/{key}_std", 0.0)
                    txt = f"{100 * res[f'{m}/{key}']:.2f}" + (f" ± {100 * std:.2f}" if std else "")
                    cell.append(txt if key == "top1" else f"+BN {txt}")
            row.append("; ".join(cell) or "-")
        row.append(f"{100 * res['teacher/top1']:.2f}")
        rows.append(row)

    channel = sorted(
        ((cfg["k"], res) for res, _, cfg in runs.values() if cfg["structure"] == "channel"),
        key=lambda kr: kr[0],
    )
    if channel:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ks = [k for k, _ in channel]
        for m in METHODS:
            ax.errorbar(
                ks,
                [100 * r[f"{m}/top1"] for _, r in channel],
                yerr=[100 * r.get(f"{m}/top1_std", 0.0) for _, r in channel],
                fmt="o-",
                capsize=3,
                label=LABELS[m],
            )
        ax.axhline(100 * channel[0][1]["teacher/top1"], color="k", ls="--", lw=1, label="teacher")
        ax.set_xlabel("K (images per class)")
        ax.set_ylabel("CIFAR-10 top-1 (%)")
        ax.set_xticks(ks)
        ax.set_title("ResNet-20, 50% channels of block conv2, no fine-tuning", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(img / "fsp_accuracy_vs_k.png", dpi=120)
        plt.close(fig)

    first_name, (_, layers, _) = next(iter(runs.items()))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for m in ("none", "cd", "scd"):
        pts = [x for x in layers if x["method"] == m and x["seed"] == 0]
        if pts:
            ax.plot(range(len(pts)), [x["estimation_error"] for x in pts], "o-", label=LABELS[m])
            names = [x["layer"] for x in pts]
    ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("L^e on the K-shot images")
    ax.set_title(f"per-layer estimation error ({first_name})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(img / "fsp_layer_error.png", dpi=120)
    plt.close(fig)

    bn_runs = [(n, r, c) for n, (r, _, c) in runs.items() if "none/top1_bn" in r]
    if bn_runs:
        _plot_bn(bn_runs, img / "fsp_bn_reestimate.png")

    pathlib.Path(args.out).write_text(json.dumps(flat, indent=2, sort_keys=True))
    head = ["run", "structure", "K", "seeds", *(LABELS[m] for m in METHODS), "teacher"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    print("\n".join(lines))
    return flat


def _plot_bn(bn_runs, path: pathlib.Path) -> None:
    """Per run: each method's top-1 with the teacher's vs re-estimated BatchNorm statistics."""
    fig, axes = plt.subplots(
        1, len(bn_runs), figsize=(3.3 * len(bn_runs), 3.4), sharey=True, squeeze=False
    )
    for ax, (_name, res, cfg) in zip(axes[0], bn_runs):
        methods = [m for m in METHODS if f"{m}/top1_bn" in res]
        x = range(len(methods))
        for j, (key, label) in enumerate(
            (("top1", "teacher's running statistics"), ("top1_bn", "re-estimated on K·10 images"))
        ):
            ax.bar(
                [i + (j - 0.5) * 0.4 for i in x],
                [100 * res[f"{m}/{key}"] for m in methods],
                0.4,
                yerr=[100 * res.get(f"{m}/{key}_std", 0.0) for m in methods],
                capsize=2,
                label=label,
            )
        ax.set_xticks(list(x), [LABELS[m] for m in methods], fontsize=8)
        kind = "50% channels" if cfg["structure"] == "channel" else "90% unstructured"
        ax.set_title(f"{kind}, K={cfg['k']} ({len(cfg['seeds'])} seeds)", fontsize=9)
    axes[0][0].set_ylabel("CIFAR-10 test top-1 (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="lower center", ncol=2, fontsize=8, title="BatchNorm statistics"
    )
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1:])
