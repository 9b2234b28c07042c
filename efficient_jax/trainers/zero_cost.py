"""Zero-cost proxy scoring of NAS-Bench-201 cells through the masked NB201 supernet.

One randomly initialised NB201 supernet (C=16, N=5, as NASLib), one batch of CIFAR-10 training
images; every proxy is compiled once and run over the cells' one-hot masks (``lax.map`` with
``SwitchEdge`` so only the selected ops execute, or ``vmap`` over the mixed supernet for the
proxies that tap layer activations). Writes ``scores.csv`` (one column per proxy),
``results.json`` (Kendall τ / Spearman ρ per proxy, NASLib's τ on the same cells, seconds per
architecture) and ``proxies_tau.png``.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from efficient_jax import data
from efficient_jax.nas import proxies
from efficient_jax.nas.benchmarks import load_nb201
from efficient_jax.nas.proxies._nb201 import NB201_NWOT, SwitchEdge
from efficient_jax.nas.spaces import NB201Cell
from efficient_jax.nas.supernet import MixedEdge, NB201Supernet, cells_to_masks
from efficient_jax.trainers import _plots  # noqa: F401  (matplotlib backend setup)

log = logging.getLogger("efficient_jax")
# Proxies that read layer activations through taps need the mixed (all-ops) supernet + vmap.
_TAP_PROXIES = ("nwot", "fisher")
_PROXY_KWARGS = {"nwot": NB201_NWOT}


def load_cells(config) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """``(arch strings, accuracy, NASLib scores by proxy)`` of the configured cell set."""
    root = data.resolve_data_dir(config.get("data_dir") or None) / "nb201"
    if config.cells == "sample":
        path = data.require_file(
            root / "nb201_cifar10_zero_cost_sample.csv", "NB201 zero-cost sample", "shared/data"
        )
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        archs = [r["arch_str"] for r in rows]
        acc = np.array([float(r["val_acc_200ep"]) for r in rows])
        ref = {
            k: np.array([float(r[k]) if r[k] else np.nan for r in rows])
            for k in rows[0]
            if k not in ("index", "arch_str", "val_acc_200ep")
        }
    elif config.cells == "all":
        table = load_nb201("cifar10", config.get("data_dir") or None)
        archs = list(table.arch)
        acc = np.asarray(table.columns[config.accuracy_column], np.float64)
        ref = {}
    else:
        raise ValueError(f"config.cells must be 'sample' or 'all', got {config.cells!r}.")
    n = int(config.get("limit") or 0)
    if n and n < len(archs):
        idx = np.sort(np.random.default_rng(config.seed).choice(len(archs), n, replace=False))
        archs = [archs[i] for i in idx]
        acc = acc[idx]
        ref = {k: v[idx] for k, v in ref.items()}
    return archs, acc, ref


def _batch(config) -> dict[str, jax.Array]:
    train = data.get_dataset("cifar10", "train", config.get("data_dir") or None)
    b = data.batch_at(train, 0, config.batch_size, seed=config.seed)
    image = data.normalize_images(jnp.asarray(b["image"]), data.CIFAR10_MEAN, data.CIFAR10_STD)
    return {"image": image, "label": jnp.asarray(b["label"])}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    for name in config.proxies:
        proxies.get_proxy(name)  # unknown names fail here, before any work
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2))
    archs, acc, ref = load_cells(config)
    masks = np.asarray(cells_to_masks([NB201Cell.from_str(a) for a in archs]))
    batch = _batch(config)
    results: dict[str, float] = {"num_cells": float(len(archs))}
    scores: dict[str, np.ndarray] = {}
    for name in config.proxies:
        tap = name in _TAP_PROXIES
        net = NB201Supernet(
            10, config.channels, config.cells_per_stage, edge_cls=MixedEdge if tap else SwitchEdge
        )
        variables = net.init(jax.random.key(config.seed), batch["image"][:1], jnp.full((6, 5), 0.2))
        apply_fn = proxies.supernet_apply_fn(net, variables["batch_stats"])
        ctx = jax.enable_x64(True) if name == "synflow" else contextlib.nullcontext()
        st: dict[str, float] = {}
        t0 = time.time()
        with ctx:
            s = proxies.score_cells(
                name,
                apply_fn,
                variables["params"],
                batch,
                masks,
                chunk_size=config.chunk_size,
                mode="vmap" if tap else "map",
                progress=config.progress,
                proxy_kwargs=_PROXY_KWARGS.get(name),
                stats_out=st,
            )
        scores[name] = s
        corr = proxies.rank_correlation(s, acc)
        results[f"{name}_kendall_tau"] = corr["kendall_tau"]
        results[f"{name}_spearman"] = corr["spearman"]
        results[f"{name}_per_arch_s"] = st["per_arch_s"]
        results[f"{name}_compile_s"] = st["compile_s"]
        results[f"{name}_total_s"] = time.time() - t0
        if name in ref:
            nas = proxies.rank_correlation(ref[name], acc)
            results[f"{name}_naslib_kendall_tau"] = nas["kendall_tau"]
            results[f"{name}_vs_naslib_kendall_tau"] = proxies.rank_correlation(s, ref[name])[
                "kendall_tau"
            ]
        log.info("%s: %s", name, {k: v for k, v in results.items() if k.startswith(name)})
        _write(workdir, archs, acc, scores, results)
    _plot(workdir, results, config.proxies)
    return results


def _write(workdir, archs, acc, scores, results) -> None:
    with open(os.path.join(workdir, "scores.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch_str", "accuracy", *scores])
        for i, a in enumerate(archs):
            w.writerow([a, acc[i], *(float(v[i]) for v in scores.values())])
    tmp = os.path.join(workdir, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "results.json"))


def _plot(workdir, results, names) -> None:
    import matplotlib.pyplot as plt

    ours = [results.get(f"{n}_kendall_tau", np.nan) for n in names]
    theirs = [results.get(f"{n}_naslib_kendall_tau", np.nan) for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(names), 3.2))
    ax.bar(x - 0.2, ours, 0.4, label="efficient_jax")
    ax.bar(x + 0.2, theirs, 0.4, label="NASLib (same cells)")
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("Kendall τ with accuracy")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, "proxies_tau.png"), dpi=120)
    plt.close(fig)
