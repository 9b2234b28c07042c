"""Architecture search on a tabular benchmark: R seeded runs per method, scored on the report
metric that searchers never see.

Per run: samples until a test-optimal architecture is queried, and test regret / rank of the
returned architecture at each budget. Results: ``workdir/runs.json`` (completed runs, written
atomically after each run or WeakNAS chunk, so a killed run resumes), ``results.json`` (mean ±
std per method), ``metrics.jsonl`` and ``nas_curves.png`` (best-so-far test regret vs queries).
"""

from __future__ import annotations

import json
import logging
import pathlib
import time

import jax
import numpy as np

from efficient_jax.nas import benchmarks as nb
from efficient_jax.nas import search
from efficient_jax.nas.predictors import MLPPredictor
from efficient_jax.train import MetricWriter, Progress, write_json_atomic

log = logging.getLogger("efficient_jax")


# ---------------------------------------------------------------- benchmark
def make_oracle(config):
    """The oracle, the pool and the test-optimal rows (among feasible cells when constrained)."""
    metrics = (config.search_metric, config.report_metric)
    if config.benchmark == "nb201":
        table = nb.load_nb201(config.dataset, config.data_dir or None)
        metrics = nb.nb201_metrics(table, config.dataset, *metrics)
        enc = nb.nb201_encodings(table, config.encoding)
        pool = search.Pool.from_nb201_ordinals(nb.nb201_ordinals(table), enc)
    elif config.benchmark == "nb101":
        table = nb.load_nb101_sample(config.data_dir or None)
        enc = np.stack([c.encode() for c in nb.nb101_cells(table)])
        pool = search.Pool.from_encodings(enc, k=10)
    elif config.benchmark == "synthetic":
        size = config.get("synthetic_size", 15625)
        table = nb.synthetic_nb201_table(jax.random.key(config.seed + 1000), size=size)
        metrics = (metrics[0] or "valid_acc", metrics[1] or "test_acc")
        enc = nb.nb201_encodings(table, config.encoding)
        pool = search.Pool.from_nb201_ordinals(nb.nb201_ordinals(table), enc)
    else:
        raise ValueError(f"Unknown benchmark {config.benchmark!r}; valid: nb201, nb101, synthetic.")
    cost, cost_csv = config.get("cost_column", ""), config.get("cost_csv", "")
    if cost_csv:  # cost columns from another CSV, a value for every cell
        cols = tuple(config.get("cost_csv_columns", ())) or ((cost,) if cost else ())
        if not cols:
            raise ValueError("cost_csv needs cost_csv_columns or cost_column to join.")
        key = config.get("cost_csv_key", "index")
        table = nb.join_columns(table, cost_csv, cols, key=key, complete=True)
    oracle = nb.TabularOracle(table, *metrics, cost_columns=(cost,) if cost else ())
    pool = pool.restrict(np.isfinite(oracle.search_values) & np.isfinite(oracle.report_values))
    if cost:  # constrained search: cost <= budget; the optimum is taken among feasible cells
        pool = pool.constrain(oracle.view().column(cost), config.cost_budget)
    return oracle, pool, search.optimal_rows(np.where(pool.allowed, oracle.report_values, np.nan))


def _predictor(config):
    return MLPPredictor(
        hidden=tuple(config.weaknas.hidden),
        epochs=config.weaknas.epochs,
        n_iter_no_change=config.weaknas.get("n_iter_no_change", 0) or None,
    )


def searcher_options(name, config):
    """The options of searcher ``name`` set by the config (the others keep their defaults)."""
    w = config.weaknas
    options = {
        "random": lambda: dict(batch=config.random_batch),
        "evolution": lambda: dict(population=10, sample=3),
        "weaknas": lambda: dict(
            predictor=_predictor(config), m0=w.m0, m=w.m, top_n=w.top_n, sampling=w.sampling
        ),
        "nars": lambda: dict(
            n_nbr=config.nars.n_nbr,
            distance=config.nars.distance,
            aggregation=config.nars.aggregation,
        ),
    }
    return options.get(name, dict)()


def make_searcher(name, pool, config):
    """The searcher registered as ``name`` (``search.available_searchers()``), configured."""
    return search.make_searcher(name, pool, **searcher_options(name, config))


# ---------------------------------------------------------------- scoring
def score_trace(trace, returned, oracle, opt_rows, budgets, grid, allowed=None):
    """Scores of one trace; ``allowed`` (constrained runs): regret and rank among feasible cells."""
    trace = np.asarray(trace)
    trace = trace[trace >= 0]
    s, r = oracle.search_values, oracle.report_values
    out = {
        "samples_to_optimum": search.samples_to_reach(trace, opt_rows),  # any tied optimum
        "samples_to_first_optimum": search.samples_to_reach(trace, opt_rows[:1]),
        "queries": len(trace),
    }
    rows = [returned.get(b) for b in budgets] if returned else [None] * len(budgets)
    by_search = search.best_so_far(trace, s, r, budgets)
    rows = [b if a is None else a for a, b in zip(rows, by_search)]
    sc = search.score_rows(rows, r, allowed=allowed)
    for b, reg, rank, rep in zip(budgets, sc["regret"], sc["rank"], sc["report"]):
        out[f"regret@{b}"] = float(reg)
        out[f"rank@{b}"] = int(rank)
        out[f"test_acc@{b}"] = float(rep)
    g = [x for x in grid if x <= len(trace)]
    out["curve_queries"] = g
    curve = search.score_rows(search.best_so_far(trace, s, r, g), r, allowed=allowed)
    out["curve_regret"] = curve["regret"].tolist()
    if oracle.cost_columns:  # two objectives: search metric (max) vs cost (min)
        cost = oracle.table.column(oracle.cost_columns[0])
        front = trace[search.pareto_front(s[trace], cost[trace])]
        out["pareto_rows"] = front.tolist()
        out["pareto_size"] = len(front)
    return out


def _numeric(run):
    return {k: v for k, v in run.items() if not k.startswith(("curve", "pareto_rows"))}


def write_pareto(done, oracle, path):
    """The Pareto front (search metric vs cost) of the first run of each method, as JSON."""
    t, cost = oracle.table, oracle.cost_columns[0]
    fronts = {
        name: [
            {
                "index": int(t.index[i]),
                "arch": t.arch[i],
                oracle.search_metric: float(oracle.search_values[i]),
                oracle.report_metric: float(oracle.report_values[i]),
                cost: float(t.column(cost)[i]),
            }
            for i in runs[0]["pareto_rows"]
        ]
        for name, runs in done.items()
        if runs and "pareto_rows" in runs[0]
    }
    write_json_atomic(path, fronts)


# ---------------------------------------------------------------- main
def train_and_evaluate(config, workdir):
    unknown = [m for m in config.methods if m not in search.SEARCHERS]
    if unknown:
        raise ValueError(f"Unknown method(s) {unknown}; valid: {search.available_searchers()}.")
    workdir = pathlib.Path(workdir)
    writer = MetricWriter(workdir)
    writer.write_config(config)
    oracle, pool, opt_rows = make_oracle(config)
    feasible = pool.allowed if oracle.cost_columns else None  # constrained: scored among these
    budgets = sorted(int(b) for b in config.budgets)
    grid = sorted({int(x) for x in np.unique(np.geomspace(1, config.max_queries, 40).astype(int))})
    state_path = workdir / "runs.json"
    done = json.loads(state_path.read_text()) if state_path.exists() else {}
    key = jax.random.key(config.seed)
    log.info("NAS search: %d rows, optimum rows %s", len(pool), opt_rows.tolist())
    for mi, name in enumerate(config.methods):
        runs = done.setdefault(name, [])
        max_q = int(config.max_queries_per_method.get(name, config.max_queries))
        min_q = max(budgets) if config.stop_at_optimum else max_q
        stop = opt_rows if config.stop_at_optimum else None
        t0 = time.time()
        with Progress(total=config.runs, initial=len(runs), desc=name) as bar:
            while len(runs) < config.runs:
                r0 = len(runs)
                rkey = jax.random.fold_in(jax.random.fold_in(key, mi), r0)
                args = (oracle, opt_rows, budgets, grid, feasible)
                if name == "weaknas" and config.weaknas.batched:
                    w = config.weaknas
                    chunk = min(w.chunk, config.runs - r0)
                    traces = search.weaknas_batched(
                        rkey, pool.encodings, oracle.search_values, runs=chunk, budget=max_q,
                        m0=w.m0, m=w.m, top_n=w.top_n, sampling=w.sampling,
                        predictor=_predictor(config), allowed=pool.allowed, stop_rows=stop,
                        min_queries=min_q,
                    )  # fmt: skip
                    new = [score_trace(t, None, *args) for t in traces]
                else:
                    out = search.run_search(
                        make_searcher(name, pool, config), oracle.view(), budget=max_q, key=rkey,
                        stop_rows=stop, min_queries=min_q, record_at=budgets,
                    )  # fmt: skip
                    # Only NA-RS returns something other than the best queried cell; for the
                    # others score trace prefixes (a batch may straddle a budget).
                    ret = out["returned"] if name == "nars" else None
                    new = [score_trace(out["trace"], ret, *args)]
                runs.extend(new)
                write_json_atomic(state_path, done)  # resume point
                bar.update(len(new))
        summary = search.summarize([_numeric(r) for r in runs])
        writer.write_scalars(mi, {"method": name, "seconds": time.time() - t0, **summary})
    results = {}
    for name in config.methods:
        runs = done[name]
        summary = search.summarize([_numeric(r) for r in runs])
        results.update({f"{name}/{k}": v for k, v in summary.items()})
    if feasible is not None:  # every metric above refers to the best feasible cell
        best = float(oracle.report_values[opt_rows[0]])
        results.update(constrained=1.0, feasible_cells=float(feasible.sum()))
        results.update(feasible_optimum_acc=best, cost_budget=float(config.cost_budget))
    writer.write_results(results)
    if oracle.cost_columns:
        write_pareto(done, oracle, workdir / "pareto.json")
    plot_curves(done, config.methods, workdir / "nas_curves.png", title=config.get("title", ""))
    return results


def plot_curves(done, methods, path, *, title=""):
    """Mean best-so-far test regret (by the search metric) vs queries, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for name in methods:
        runs = done.get(name, [])
        if not runs:
            continue
        length = max(len(r["curve_queries"]) for r in runs)
        q = next(r["curve_queries"] for r in runs if len(r["curve_queries"]) == length)
        # Runs stopped at the optimum keep their last regret.
        reg = np.array(
            [
                r["curve_regret"] + r["curve_regret"][-1:] * (length - len(r["curve_regret"]))
                for r in runs
            ]
        )
        ax.plot(q, reg.mean(0), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("queries")
    ax.set_ylabel("test regret of best-so-far (%)")
    ax.set_title(title or "NAS search")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
