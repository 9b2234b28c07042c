"""WeakNAS on NB201: our JAX MLP predictor (vmapped over runs) vs scikit-learn's MLPRegressor.

The baseline is the official WeakNAS predictor, ``MLPRegressor(hidden_layer_sizes=(1000,)*4)``
(sklearn defaults: Adam lr 1e-3, alpha 1e-4, batch min(200, n), up to 200 epochs, stopping when the
epoch training loss has not improved by 1e-4 for more than 10 epochs), run one run after another.
Both sides train with that same rule (``--n_iter_no_change 0`` trains all 200 epochs on both).
Ours runs the same loop (M0 initial samples, then M from the predicted Top-N per iteration, fresh
predictor each iteration) with all runs in lock-step, the MLP fit/predict vmapped over runs
(:func:`efficient_jax.nas.search.weaknas_batched`). Sample efficiency is compared by the test
regret of the best-by-validation architecture at the budget and the fraction of runs that
queried a test-optimal cell.

Command (full target: 100 runs; a GPU is needed for that in reasonable time):
  python launch/bench/weaknas_speed.py --out /tmp/weaknas_speed.json --runs 100
CPU smoke (2 cores): python launch/bench/weaknas_speed.py --out /tmp/w.json --runs 2 --budget 100
On a shared machine, compare single-threaded (each side then gets one core's share):
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
  XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
  python launch/bench/weaknas_speed.py --out /tmp/w1.json --runs 10 --sk_runs 2 --budget 100
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from efficient_jax.nas import benchmarks as nb
from efficient_jax.nas import search
from efficient_jax.nas.predictors import MLPPredictor, SklearnPredictor


class _View:
    maximize = True

    def __init__(self, values):
        self.values = values

    def query(self, rows):
        return self.values[rows]


def _score(traces, oracle, opt, budget):
    rows = [search.best_so_far(t, oracle.search_values, None, [budget])[0] for t in traces]
    sc = search.score_rows(rows, oracle.report_values)
    found = [search.samples_to_reach(t, opt) is not None for t in traces]
    return float(np.mean(sc["regret"])), float(np.mean(found))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--sk_runs", type=int, default=0, help="sklearn runs (default: --runs)")
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=1000)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--m0", type=int, default=50)
    ap.add_argument("--m", type=int, default=10)
    ap.add_argument("--top_n", type=int, default=100)
    ap.add_argument("--n_iter_no_change", type=int, default=10, help="0: no early stop")
    ap.add_argument("--data_dir", default=None)
    args = ap.parse_args()
    sk_runs = args.sk_runs or args.runs
    hidden = (args.hidden,) * args.layers

    table = nb.load_nb201("cifar10", args.data_dir)
    oracle = nb.TabularOracle(table, "valid_acc_200ep", "test_acc_200ep")
    enc = nb.nb201_encodings(table)
    pool = search.Pool.from_nb201_ordinals(nb.nb201_ordinals(table), enc)
    opt = search.optimal_rows(oracle.report_values)
    kw = dict(m0=args.m0, m=args.m, top_n=args.top_n)

    # Ours: all runs in lock-step (compilation included in the time).
    t0, c0 = time.perf_counter(), time.process_time()
    ours = search.weaknas_batched(
        jax.random.key(0), enc, oracle.search_values, runs=args.runs, budget=args.budget,
        predictor=MLPPredictor(hidden=hidden, n_iter_no_change=args.n_iter_no_change or None),
        pad_to=args.budget, **kw,
    )  # fmt: skip
    t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0

    # Baseline: sklearn MLPRegressor, one run after another, same loop via the ask/tell WeakNAS.
    stop = args.n_iter_no_change or 1000  # 1000 > max_iter: the rule never fires
    sk = SklearnPredictor("mlp", {"hidden_layer_sizes": hidden, "n_iter_no_change": stop})
    t0, c0 = time.perf_counter(), time.process_time()
    base = []
    for r in range(sk_runs):
        s = search.WeakNAS(pool, predictor=sk, **kw)
        out = search.run_search(
            s, _View(oracle.search_values), budget=args.budget, key=jax.random.key(100 + r)
        )
        base.append(out["trace"])
    t_sk, c_sk = time.perf_counter() - t0, time.process_time() - c0

    per_ours, per_sk = t_ours / args.runs, t_sk / sk_runs
    reg_ours, found_ours = _score(ours, oracle, opt, args.budget)
    reg_sk, found_sk = _score(base, oracle, opt, args.budget)
    res = {
        "runs_ours": args.runs,
        "runs_sklearn": sk_runs,
        "budget": args.budget,
        "hidden": args.hidden,
        "layers": args.layers,
        "n_iter_no_change": args.n_iter_no_change,
        "seconds_per_run_ours": per_ours,
        "seconds_per_run_sklearn": per_sk,
        "jax_vs_sklearn_ratio": per_ours / per_sk,
        "cpu_seconds_per_run_ours": c_ours / args.runs,
        "cpu_seconds_per_run_sklearn": c_sk / sk_runs,
        "jax_vs_sklearn_cpu_time_ratio": (c_ours / args.runs) / (c_sk / sk_runs),
        "test_regret_ours": reg_ours,
        "test_regret_sklearn": reg_sk,
        "found_optimum_frac_ours": found_ours,
        "found_optimum_frac_sklearn": found_sk,
        "device": str(jax.devices()[0].platform),
    }
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"{'':22s}{'s/run':>10s}{'regret@B':>10s}{'found opt':>10s}{'runs':>6s}")
    print(f"{'ours (JAX, vmapped)':22s}{per_ours:10.2f}{reg_ours:10.3f}{found_ours:10.2f}"
          f"{args.runs:6d}")  # fmt: skip
    print(f"{'sklearn MLPRegressor':22s}{per_sk:10.2f}{reg_sk:10.3f}{found_sk:10.2f}{sk_runs:6d}")
    print(f"jax_vs_sklearn_ratio (time, <1 = ours faster): {per_ours / per_sk:.3f}")
    cpu_ratio = res["jax_vs_sklearn_cpu_time_ratio"]
    print(f"jax_vs_sklearn_cpu_time_ratio (process CPU time): {cpu_ratio:.3f}")


if __name__ == "__main__":
    main()
