"""Committees and cascades: build a model pool, cache its logits, select cascades, compare at cost.

Config fields: see ``configs/cascades_digits.py`` and ``configs/cascades_cifar10.py``. The run

1. trains (or loads, or derives) every pool member of ``config.members`` — trained members go
   through the classification trainer's loop and resume from ``workdir/members/<name>``; a member
   with ``base`` reuses another member's variables at another input ``resolution`` (a
   self-cascade stage) and/or with ``quant_bits``-bit weights (a compressed stage);
2. caches each member's logits on the held-out and evaluation halves of the test split in
   ``workdir/logits/<name>.npz`` (never recomputed once there) with its per-example FLOPs;
3. searches every ordered tuple of up to ``config.max_models`` members on the held-out half
   (thresholds by grid search) and reports, on the evaluation half: the cascade that matches the
   best single model's accuracy at the fewest average FLOPs (for 2- and for 3-model cascades),
   the Table-5.3-style comparison against every single model, ensembles, a FLOPs-budget sweep,
   and (``config.measure_latency``) batch-1 wall-clock latency of the matched cascade;
4. writes ``results.json`` (flat figures), ``cascades.json`` (all rows), ``report.md`` and
   ``cascade_acc_vs_flops.png``.

Reference: Wang et al., "Wisdom of Committees", ICLR 2022 (thesis Ch. 5).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from efficient_jax import cascade, cost, train
from efficient_jax.trainers import _cascade_report
from efficient_jax.trainers._cascade_pool import (  # load_splits: used by notebooks/cascades
    build_pool,
    load_pool_data,
    load_splits,  # noqa: F401
)

log = logging.getLogger("efficient_jax")


def _per_example_latency(fn, args_of, xs) -> float:
    jax.block_until_ready(fn(*args_of(xs[:1])))  # compile
    times = []
    for i in range(xs.shape[0]):
        a = args_of(xs[i : i + 1])
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*a))
        times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def measure_latencies(pool, best_single, row, cand, evaluation, n) -> dict[str, float]:
    """Mean batch-1 latency (s) of the best single model and of a cascade, on ``n`` examples."""
    xs = jnp.asarray(evaluation["image"][:n])
    single = pool[best_single]
    f_single = jax.jit(single["apply_fn"])
    members = [pool[i] for i in cand.members]
    f_cas = jax.jit(
        cascade.online_cascade([m["apply_fn"] for m in members], cand.choice.thresholds)
    )
    variables = [m["variables"] for m in members]
    lat_single = _per_example_latency(f_single, lambda x: (single["variables"], x), xs)
    lat_cas = _per_example_latency(f_cas, lambda x: (variables, x), xs)
    return {"single": lat_single, "cascade": lat_cas}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Builds the pool, selects cascades on held-out logits, reports on the evaluation half."""
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    # Data and pool.
    train_data, heldout, evaluation, info = load_pool_data(config)
    pool = build_pool(config, info, train_data, heldout, evaluation, workdir)
    names = [m["name"] for m in pool]
    y_h, y_e = heldout["label"], evaluation["label"]
    flops = np.array([m["flops"] for m in pool])
    acc_h = np.array([np.mean(m["heldout_logits"].argmax(-1) == y_h) for m in pool])
    acc_e = np.array([np.mean(m["eval_logits"].argmax(-1) == y_e) for m in pool])
    metric, combine = config.metric, config.combine
    eval_logits = [m["eval_logits"] for m in pool]

    def _evaluate(cand: cascade.CascadeCandidate, comb: str = combine) -> dict[str, Any]:
        row = cascade.evaluate_candidate(eval_logits, y_e, flops, cand, metric=metric, combine=comb)
        return {"members": "+".join(names[i] for i in cand.members), **row}

    # Sweep every ordered tuple once on the held-out half.
    sweeps = cascade.sweep_pool(
        np.stack([m["heldout_logits"] for m in pool]),
        y_h,
        flops,
        max_models=config.max_models,
        num=config.get("grid_num") or None,
        metric=metric,
        combine=combine,
        max_worst_flops=config.get("max_worst_flops") or None,
    )
    # The best single model (chosen on held-out) and the cascades that match it.
    best = int(np.lexsort((flops, -acc_h))[0])
    results: dict[str, Any] = {
        f"{n}_{k}": v
        for n, a, f in zip(names, acc_e, flops, strict=True)
        for k, v in (("accuracy", float(a)), ("flops", float(f)))
    }
    detail_same: dict[int, dict] = {}
    results.update(
        best_single_accuracy=float(acc_e[best]),
        best_single_flops=float(flops[best]),
        heldout_size=len(y_h),
        eval_size=len(y_e),
    )
    # Cascades of exactly n models: the cheapest at the best single model's held-out accuracy
    # ("matched") and the most accurate within its FLOPs ("same FLOPs").
    matched: dict[int, tuple[dict, cascade.CascadeCandidate]] = {}
    for n in range(2, config.max_models + 1):
        subset = [s for s in sweeps if len(s.members) == n]
        if not subset:
            continue
        cand, _ = cascade.select_from_sweeps(subset, min_accuracy=float(acc_h[best]))
        row = _evaluate(cand)
        matched[n] = (row, cand)
        same, _ = cascade.select_from_sweeps(subset, max_flops=float(flops[best]))
        same_row = _evaluate(same)
        results.update(
            {
                f"cascade{n}_accuracy": row["accuracy"],
                f"cascade{n}_avg_flops": row["avg_flops"],
                f"cascade{n}_worst_flops": row["worst_flops"],
                f"cascade{n}_vs_best_single_flops_ratio": float(row["avg_flops"] / flops[best]),
                f"cascade{n}_stage1_exit_fraction": row["exit_fractions"][0],
                f"cascade{n}_same_flops_accuracy": same_row["accuracy"],
                f"cascade{n}_same_flops_avg_flops": same_row["avg_flops"],
            }
        )
        detail_same[n] = same_row
    # Named cascades (self-cascades, compressed → full precision): thresholds matched on held-out
    # to the accuracy of their last member.
    fixed = []
    for names_k in config.get("fixed_cascades") or []:
        unknown = [n for n in names_k if n not in names]
        if unknown or len(names_k) < 2:
            raise ValueError(
                f"fixed_cascades entry {list(names_k)} must name >= 2 members of {names}."
            )
        idx = tuple(names.index(n) for n in names_k)
        for comb in config.get("fixed_combines") or (combine,):
            sweep = cascade.sweep_members(
                [m["heldout_logits"] for m in pool],
                y_h,
                flops,
                idx,
                num=config.get("grid_num") or None,
                metric=metric,
                combine=comb,
            )
            cand, _ = cascade.select_from_sweeps([sweep], min_accuracy=float(acc_h[idx[-1]]))
            row = _evaluate(cand, comb)
            row["combine"] = comb
            row["reference"] = names[idx[-1]]
            row["reference_accuracy"] = float(acc_e[idx[-1]])
            row["flops_ratio"] = row["avg_flops"] / float(flops[idx[-1]])
            fixed.append(row)
            key = f"{'+'.join(names_k)}_{comb}"
            results[f"{key}_accuracy"] = row["accuracy"]
            results[f"{key}_flops_ratio"] = row["flops_ratio"]
    # Table 5.3 analogue: cascades at each single model's accuracy and FLOPs.
    table = []
    for i in np.argsort(flops):
        same_acc, _ = cascade.select_from_sweeps(sweeps, min_accuracy=float(acc_h[i]))
        same_cost, _ = cascade.select_from_sweeps(sweeps, max_flops=float(flops[i]))
        table.append(
            {
                "single": names[i],
                "single_accuracy": float(acc_e[i]),
                "single_flops": float(flops[i]),
                "same_accuracy": _evaluate(same_acc),
                "same_flops": _evaluate(same_cost),
            }
        )
    # FLOPs-budget sweep (the cascade curve) and ensembles.
    budgets = np.geomspace(flops.min(), flops.sum(), config.num_budgets)
    curve = [_evaluate(cascade.select_from_sweeps(sweeps, max_flops=float(b))[0]) for b in budgets]
    ensembles = [
        {**r, "members": "+".join(names[i] for i in r["members"])}
        for r in cascade.ensemble_table(
            eval_logits, y_e, [m["flops"] for m in pool], config.max_models
        )
    ]
    # The generic cost-aware harness: cascade curve vs the single models at equal FLOPs.
    harness = cost.compare_at_equal_cost(
        [cost.CostPoint(r["members"], r["accuracy"], r["avg_flops"]) for r in curve],
        [
            cost.CostPoint(n, float(a), float(f))
            for n, a, f in zip(names, acc_e, flops, strict=True)
        ],
    )
    # Latency of the largest matched cascade vs the best single model (batch 1, CPU).
    if config.measure_latency and matched:
        row, cand = matched[max(matched)]
        lat = measure_latencies(pool, best, row, cand, evaluation, config.latency_examples)
        results["best_single_latency_ms"] = 1e3 * lat["single"]
        results["cascade_latency_ms"] = 1e3 * lat["cascade"]
        results["cascade_vs_best_single_latency_ratio"] = lat["cascade"] / lat["single"]
    # Outputs.
    singles = [
        {"name": n, "accuracy": float(a), "heldout_accuracy": float(h), "flops": float(f)}
        for n, a, h, f in zip(names, acc_e, acc_h, flops, strict=True)
    ]
    detail = {
        "singles": singles,
        "best_single": names[best],
        "matched": {str(n): r for n, (r, _) in matched.items()},
        "same_flops": {str(n): r for n, r in detail_same.items()},
        "fixed": fixed,
        "table": table,
        "curve": curve,
        "ensembles": ensembles,
        "harness": harness,
    }
    if writer.active:  # process 0 only, like the writer's own files
        with open(os.path.join(workdir, "cascades.json"), "w") as f:
            json.dump(detail, f, indent=1)
        _cascade_report.plot_accuracy_vs_flops(
            detail, os.path.join(workdir, "cascade_acc_vs_flops.png"), title=config.get("title", "")
        )
        with open(os.path.join(workdir, "report.md"), "w") as f:
            f.write(_cascade_report.markdown(detail))
    writer.write_results(results)
    log.info("results: %s", results)
    return results
