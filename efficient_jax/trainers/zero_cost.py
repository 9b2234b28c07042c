"""Zero-cost proxy scoring of NAS-Bench-201 cells through the masked NB201 supernet.

NASLib's protocol (:func:`efficient_jax.nas.proxies.score_nb201_cells`): one NB201 supernet
(C=16, N=5) at PyTorch's default initialisation (one draw shared by all cells, or one per cell
with ``init_per_cell``), one batch of CIFAR-10 training images, the proxies compiled once per
group (:func:`~efficient_jax.nas.proxies.proxy_groups`; ``one_pass``). Every ``checkpoint_every``
cells the scores so far are saved with orbax (``workdir/checkpoints/<group>``) and a restarted
run resumes there. Writes ``scores.csv`` (one column per proxy), ``results.json`` (Kendall τ /
Spearman ρ per proxy, NASLib's τ on the same cells, seconds per architecture of the pass that
computed it), ``proxies_tau.png`` and ``proxies_scatter.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
import zlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from efficient_jax import data
from efficient_jax.nas import proxies
from efficient_jax.nas.benchmarks import load_nb201
from efficient_jax.nas.spaces import NB201Cell
from efficient_jax.nas.supernet import NB201Supernet, cells_to_masks
from efficient_jax.train import Checkpointer, MetricWriter
from efficient_jax.trainers import _plots  # noqa: F401  (matplotlib backend setup)

log = logging.getLogger("efficient_jax")


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
    ds = data.load("cifar10", data_dir=config.get("data_dir") or None)
    b = data.batch_at(ds.train_data, 0, config.batch_size, seed=config.seed)
    image = data.normalize(jnp.asarray(b["image"]), ds.info)
    return {"image": image, "label": jnp.asarray(b["label"])}


def scores_checkpointer(workdir: str, group: tuple[str, ...]) -> Checkpointer:
    """The orbax checkpointer of one proxy group's scores (``workdir/checkpoints/<a+b>``)."""
    return Checkpointer(os.path.join(workdir, "checkpoints", "+".join(group)), max_to_keep=1)


def scores_template(group: tuple[str, ...], n: int, cells_crc=0) -> dict:
    """The checkpointed state: a fingerprint of the cells, cells done, scores per proxy."""
    return {
        "cells_crc": np.asarray(cells_crc, np.int64),
        "done": np.zeros((), np.int64),
        "scores": {p: np.zeros(n) for p in group},
    }


def _init_kind(config) -> str:
    init = config.get("init", "torch")
    if init not in proxies.INITS:
        raise ValueError(f"config.init must be 'torch' or 'flax', got {init!r}.")
    return init


# settings besides the cell set that change the scores (the cell set has its own fingerprint)
SCORE_SETTINGS = ("seed", "batch_size", "channels", "cells_per_stage", "init", "init_per_cell")


def _check_settings(directory, config, resumed: bool) -> None:
    """Refuses to resume scores of other settings (``settings.json``; older checkpoints pass)."""
    path = os.path.join(directory, "settings.json")
    settings = {k: config.get(k) for k in SCORE_SETTINGS}
    if resumed and os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved != settings:
            raise ValueError(
                f"The checkpoint in {directory} was computed with {saved}, this run has "
                f"{settings}; use a fresh --workdir or delete it."
            )
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(settings, f)


def _score_group(group, config, masks, batch, workdir) -> tuple[dict[str, np.ndarray], dict]:
    """Scores one group of proxies over all masks, resuming from its latest checkpoint."""
    n = masks.shape[0]
    ckpt = scores_checkpointer(workdir, group)
    cells_crc = np.asarray(zlib.crc32(masks.argmax(-1).astype(np.int8).tobytes()), np.int64)
    try:
        state, step = ckpt.maybe_restore(scores_template(group, n, cells_crc))
    except Exception as e:  # orbax: shape/structure mismatch with the template
        raise ValueError(
            f"The checkpoint in {ckpt.directory} does not match this run ({n} cells, proxies "
            f"{group}); use a fresh --workdir or delete it. ({type(e).__name__}: {e})"
        ) from e
    if step is not None and int(state["cells_crc"]) != int(cells_crc):
        raise ValueError(
            f"The checkpoint in {ckpt.directory} was written for a different set of cells "
            "(cells/limit/seed changed); use a fresh --workdir or delete it."
        )
    _check_settings(ckpt.directory, config, resumed=step is not None)
    resume = None
    if step is not None:
        resume = (int(state["done"]), {p: np.asarray(v) for p, v in state["scores"].items()})
        log.info("%s: resuming after %d of %d cells", "+".join(group), resume[0], n)

    def save(done, scores):  # saved asynchronously: scores is the library's copy
        state = {"cells_crc": cells_crc, "done": np.asarray(done, np.int64), "scores": scores}
        ckpt.save(done, state, force=True)

    s, st = proxies.score_nb201_cells(
        group,
        NB201Supernet(10, config.channels, config.cells_per_stage),
        batch,
        masks,
        key=jax.random.key(config.seed),
        init=_init_kind(config),
        init_per_cell=bool(config.get("init_per_cell")),
        chunk_size=config.chunk_size,
        synflow_chunk_size=config.synflow_chunk_size,
        progress=config.progress,
        resume=resume,
        checkpoint_fn=save,
        checkpoint_every=config.get("checkpoint_every", 1024),
    )
    ckpt.close()
    return s, st


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    for name in config.proxies:
        proxies.get_proxy(name)  # unknown names fail here, before any work
    _init_kind(config)  # an unknown initialisation fails here too
    writer = MetricWriter(workdir)
    writer.write_config(config)
    archs, acc, ref = load_cells(config)
    masks = np.asarray(cells_to_masks([NB201Cell.from_str(a) for a in archs]))
    batch = _batch(config)
    results: dict[str, float] = {"num_cells": float(len(archs))}
    scores: dict[str, np.ndarray] = {}
    for group in proxies.proxy_groups(config.proxies, one_pass=config.get("one_pass", True)):
        t0 = time.time()
        group_scores, st = _score_group(group, config, masks, batch, workdir)
        for name in group:
            scores[name] = s = group_scores[name]
            figures = proxies.proxy_correlations(s, acc, ref.get(name))
            figures.update(per_arch_s=st["per_arch_s"], compile_s=st["compile_s"])
            figures.update(total_s=time.time() - t0, pass_size=float(len(group)))
            for k, v in figures.items():  # NASLib's scores of the sample are the reference
                results[f"{name}_{k.replace('reference', 'naslib')}"] = v
            log.info("%s: %s", name, {k: v for k, v in results.items() if k.startswith(name)})
        _write(writer, archs, acc, scores, results)
    if writer.active:
        _plot(workdir, results, config.proxies)
        _plot_scatter(workdir, acc, scores, results)
    return results


def _write(writer, archs, acc, scores, results) -> None:
    """``scores.csv`` and ``results.json``, by process 0 only."""
    if writer.active:
        with open(writer.workdir / "scores.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["arch_str", "accuracy", *scores])
            for i, a in enumerate(archs):
                w.writerow([a, acc[i], *(float(v[i]) for v in scores.values())])
    writer.write_results(results)


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


def _plot_scatter(workdir, acc, scores, results) -> None:
    """Score vs accuracy, one panel per proxy (hexbin when there are many cells)."""
    import matplotlib.pyplot as plt

    names = list(scores)
    if not names:
        return
    cols = min(len(names), 3)
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        s = scores[name]
        ok = np.isfinite(s) & np.isfinite(acc)
        if ok.sum() > 2000:
            ax.hexbin(s[ok], acc[ok], gridsize=60, bins="log", mincnt=1, cmap="viridis")
        else:
            ax.scatter(s[ok], acc[ok], s=6, alpha=0.6)
        tau = results.get(f"{name}_kendall_tau", np.nan)
        title = f"{name} (τ = {tau:.3f}, {int(ok.sum())} cells"
        off = int((np.isinf(s) & np.isfinite(acc)).sum())
        ax.set_title(title + (f"; {off} at ±∞ not drawn)" if off else ")"), fontsize=9)
        ax.set_xlabel("score")
        ax.set_ylabel("accuracy (%)")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, "proxies_scatter.png"), dpi=120)
    plt.close(fig)
