"""Kendall τ of an unfinished zero-cost run, from its latest orbax checkpoint.

The ``zero_cost`` trainer checkpoints the scores every ``checkpoint_every`` cells; this reads the
latest checkpoint of one proxy group and prints, for the cells scored so far, each proxy's τ and
Spearman ρ with accuracy next to NASLib's τ on the same cells (sample set only).

Usage (same ``cells``/``limit``/``seed`` as the run):
  python launch/report_zero_cost_checkpoint.py --workdir /tmp/ej_zc_sub100 --limit 100 \\
      --proxies snip+grad_norm+l2_norm+plain+grasp+fisher+jacov+nwot --out /tmp/partial_tau.json
"""

from __future__ import annotations

import argparse
import json

import ml_collections
import numpy as np

from efficient_jax.nas.proxies import rank_correlation
from efficient_jax.trainers.zero_cost import load_cells, scores_checkpointer, scores_template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--proxies", required=True, help="the group, joined by '+'")
    parser.add_argument("--cells", default="sample", choices=("sample", "all"))
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    group = tuple(args.proxies.split("+"))
    config = ml_collections.ConfigDict(
        dict(cells=args.cells, limit=args.limit, seed=args.seed, data_dir=args.data_dir)
    )
    config.accuracy_column = "test_acc_200ep"
    archs, acc, ref = load_cells(config)
    n = len(archs)
    state = scores_checkpointer(args.workdir, group).restore(scores_template(group, n))
    done = int(state["done"])
    out = {"cells_scored": done, "cells_total": n}
    lines = [
        f"cells scored: {done} of {n}",
        "| proxy | τ ours | ρ ours | NASLib τ (same cells) | abs Δτ | τ(ours, NASLib) |",
        "|---|---|---|---|---|---|",
    ]
    for p in group:
        s = np.asarray(state["scores"][p])[:done]
        ours = rank_correlation(s, acc[:done])
        row = {"ours": ours}
        cells = [p, f"{ours['kendall_tau']:.3f}", f"{ours['spearman']:.3f}", "—", "—", "—"]
        if p in ref:
            theirs = rank_correlation(ref[p][:done], acc[:done])
            vs = rank_correlation(s, ref[p][:done])["kendall_tau"]
            row.update(naslib=theirs, vs_naslib=vs)
            delta = abs(ours["kendall_tau"] - theirs["kendall_tau"])
            cells[3:] = [f"{theirs['kendall_tau']:.3f}", f"{delta:.3f}", f"{vs:.3f}"]
        out[p] = row
        lines.append("| " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
