"""Kendall τ of unfinished (or several) zero-cost runs, from their latest orbax checkpoints.

The ``zero_cost`` trainer checkpoints the scores every ``checkpoint_every`` cells; this reads the
latest checkpoint of one proxy group per ``--run`` and prints, for the cells scored so far, each
proxy's τ and Spearman ρ with accuracy next to NASLib's τ on the same cells (sample set only).

Several runs over the same cell set (same seed, batch and initialisation, so the same supernet
weights) are merged by architecture: a cell scored by more than one run counts once, and the
largest relative disagreement between runs on such cells is printed (float32 rounding). Each run's
``config.json`` gives its cell set (``cells``, ``limit``, ``seed``) and initialisation.

``--run WORKDIR:GROUP[:USE]``: the run's workdir, the proxy group as the run named it
(``a+b+c``; the batch-64 proxies run as one group), optionally the proxies to take from it.

Usage:
  python launch/report_zero_cost_checkpoint.py \\
      --run /tmp/ej_zc_725:snip+grad_norm+l2_norm+plain+grasp+fisher+jacov+nwot \\
      --run /tmp/ej_zc_fisher100:fisher --out /tmp/partial_tau.json
"""

from __future__ import annotations

import argparse
import json
import os

import ml_collections
import numpy as np

from efficient_jax.nas.proxies import rank_correlation
from efficient_jax.trainers.zero_cost import load_cells, scores_checkpointer, scores_template

# settings that change the scores: runs merged together must agree on them (init: absent in
# runs from before the option existed, which used the supernet's own initialisers)
_SAME = ("cells", "seed", "batch_size", "channels", "cells_per_stage", "init", "init_per_cell")


def _parse_run(spec: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"--run must be WORKDIR:GROUP[:USE], got {spec!r}.")
    group = tuple(parts[1].split("+"))
    use = tuple(parts[2].split("+")) if len(parts) == 3 else group
    if not set(use) <= set(group):
        raise ValueError(f"--run {spec!r}: USE {use} must be a subset of the group {group}.")
    return parts[0], group, use


def merge_runs(specs, data_dir=""):
    """``(scores by proxy by arch, accuracy by arch, NASLib scores by proxy by arch, info)``."""
    scores: dict[str, dict[str, float]] = {}
    acc: dict[str, float] = {}
    ref: dict[str, dict[str, float]] = {}
    info = {"runs": [], "max_rel_disagreement": 0.0, "overlapping_cells": 0}
    first = None
    for workdir, group, use in map(_parse_run, specs):
        with open(os.path.join(workdir, "config.json")) as f:
            run_config = {"init": "flax", "init_per_cell": False, **json.load(f)}
        settings = {k: run_config.get(k) for k in _SAME}
        if first is None:
            first = settings
        elif settings != first:
            raise ValueError(f"{workdir}: settings {settings} differ from the first run's {first}.")
        config = ml_collections.ConfigDict(
            dict(cells=settings["cells"], limit=run_config.get("limit", 0), seed=settings["seed"])
        )
        config.data_dir = data_dir or run_config.get("data_dir", "")
        config.accuracy_column = run_config.get("accuracy_column", "test_acc_200ep")
        archs, acc_run, ref_run = load_cells(config)
        state = scores_checkpointer(workdir, group).restore(scores_template(group, len(archs)))
        done = int(state["done"])
        info["runs"].append({"workdir": workdir, "cells_scored": done, "cells_total": len(archs)})
        acc.update(zip(archs, acc_run))
        for p, v in ref_run.items():
            ref.setdefault(p, {}).update(zip(archs, v))
        for p in use:
            got = scores.setdefault(p, {})
            for a, s in zip(archs[:done], np.asarray(state["scores"][p])[:done]):
                if a in got:
                    info["overlapping_cells"] += 1
                    rel = abs(got[a] - s) / max(abs(got[a]), abs(s), 1e-12)
                    if np.isfinite(rel):
                        info["max_rel_disagreement"] = max(info["max_rel_disagreement"], rel)
                else:
                    got[a] = float(s)
    info["settings"] = first
    return scores, acc, ref, info


def report(specs, data_dir: str = "") -> tuple[dict, list[str]]:
    """``(τ per proxy as a dict, markdown table lines)`` for the merged runs."""
    scores, acc, ref, info = merge_runs(specs, data_dir)
    out = {"info": info}
    lines = [
        *(f"{r['workdir']}: {r['cells_scored']} of {r['cells_total']} cells" for r in info["runs"]),
        f"cells scored by more than one run: {info['overlapping_cells']} "
        f"(largest relative disagreement {info['max_rel_disagreement']:.1e})",
        "| proxy | cells | τ ours | ρ ours | NASLib τ (same cells) | abs Δτ | τ(ours, NASLib) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p, by_arch in scores.items():
        archs = sorted(by_arch)
        s = np.array([by_arch[a] for a in archs])
        a = np.array([acc[x] for x in archs])
        ours = rank_correlation(s, a)
        row = {"cells": len(archs), "ours": ours}
        cells = [p, str(len(archs)), f"{ours['kendall_tau']:.3f}", f"{ours['spearman']:.3f}"]
        cells += ["—", "—", "—"]
        if p in ref:
            theirs_s = np.array([ref[p][x] for x in archs])
            theirs = rank_correlation(theirs_s, a)
            vs = rank_correlation(s, theirs_s)["kendall_tau"]
            row.update(naslib=theirs, vs_naslib=vs)
            delta = abs(ours["kendall_tau"] - theirs["kendall_tau"])
            cells[4:] = [f"{theirs['kendall_tau']:.3f}", f"{delta:.3f}", f"{vs:.3f}"]
        out[p] = row
        lines.append("| " + " | ".join(cells) + " |")
    return out, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, help="WORKDIR:GROUP[:USE]")
    parser.add_argument("--data_dir", default="", help="default: the runs' own")
    parser.add_argument("--out", default="")
    parser.add_argument("--plot", default="", help="PNG: τ per proxy, ours vs NASLib")
    args = parser.parse_args()
    out, lines = report(args.run, args.data_dir)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    if args.plot:
        plot(out, args.plot)
    print("\n".join(lines))


def plot(out: dict, path: str) -> None:
    """Bar chart of each proxy's τ, ours next to NASLib's on the same cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p for p in out if p != "info"]
    ours = [out[p]["ours"]["kendall_tau"] for p in names]
    theirs = [out[p].get("naslib", {}).get("kendall_tau", np.nan) for p in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(names), 3.2))
    ax.bar(x - 0.2, ours, 0.4, label="efficient_jax")
    ax.bar(x + 0.2, theirs, 0.4, label="NASLib (same cells)")
    labels = [f"{p}\n({out[p]['cells']} cells)" for p in names]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("Kendall τ with accuracy")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
