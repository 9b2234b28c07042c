"""Gradient NAS on the NB201 supernet (DARTS 1st/2nd order, GDAS, NA-DARTS, TangleNAS), scored by
the real NAS-Bench-201 200-epoch test accuracy of the selected cell.

Per (method, seed): a CIFAR-10 subset is split into a weight half and an architecture half; the
supernet and α are searched for ``num_steps`` (:func:`efficient_jax.nas.supernet.make_search_step`);
the cell is selected by the argmax of α and by perturbation (Wang et al. 2021) on held-out
architecture-half images, and each selected cell is looked up in ``nb201/nb201_cifar10.csv``.
Writes ``workdir/runs.json`` (after every run; a restarted job skips finished runs),
``results.json`` (mean ± std per method and selection), ``metrics.jsonl`` and ``config.json``.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from efficient_jax import data
from efficient_jax.nas import benchmarks as nb
from efficient_jax.nas import supernet as sn
from efficient_jax.nas.spaces import NB201_OPS
from efficient_jax.train import MetricWriter, write_json_atomic

log = logging.getLogger("efficient_jax")
SELECTIONS = sn.SELECTIONS


# ---------------------------------------------------------------- data
def load_search_data(config, seed: int) -> dict:
    """``{"train", "val", "select"}`` arrays: a random CIFAR-10 subset split in halves."""
    if config.dataset == "synthetic":
        rng = np.random.default_rng(seed)
        n = config.num_images
        images = rng.normal(size=(n, config.image_size, config.image_size, 3)).astype(np.float32)
        labels = rng.integers(0, 10, n).astype(np.int32)
    elif config.dataset == "cifar10":
        dataset = data.load("cifar10", data_dir=config.data_dir or None)
        ds = dataset.train_data
        idx = np.random.default_rng(seed).permutation(len(ds["label"]))[: config.num_images]
        images = data.normalize(ds["image"][idx], dataset.info)
        labels = ds["label"][idx]
        f = 32 // config.image_size
        if f * config.image_size != 32:
            raise ValueError(f"image_size must divide 32, got {config.image_size}.")
        if f > 1:
            images = images.reshape(-1, config.image_size, f, config.image_size, f, 3).mean((2, 4))
    else:
        raise ValueError(f"Unknown dataset {config.dataset!r}; valid: cifar10, synthetic.")
    half = len(labels) // 2
    sel = min(config.select_images, half)
    return {
        "train": {"image": images[:half], "label": labels[:half]},
        "val": {"image": images[half:], "label": labels[half:]},
        "select": {"image": images[len(labels) - sel :], "label": labels[len(labels) - sel :]},
    }


def _batch(split: dict, step: int, batch_size: int, seed: int) -> dict:
    """Batches wrap across epochs (the search's stream of epochs, as before ``data.batch_at``)."""
    b = data.batch_at(split, step, batch_size, seed=seed, remainder="wrap")
    return {"image": jnp.asarray(b["image"]), "label": jnp.asarray(b["label"])}


# ---------------------------------------------------------------- one run
def make_model(config, method: str) -> sn.NB201Supernet:
    edge = sn.EntangledEdge if method == "tanglenas" else sn.MixedEdge
    return sn.NB201Supernet(
        num_classes=10,
        channels=config.channels,
        cells_per_stage=config.cells_per_stage,
        edge_cls=edge,
    )


def make_spec(config, method: str) -> sn.SearchSpec:
    cost = None
    if config.cost_weight:
        cost = tuple(
            float(c)
            for c in sn.nb201_op_cost_table(
                channels=config.channels,
                cells_per_stage=config.cells_per_stage,
                image_size=config.image_size,
            )
        )
    n = config.nadarts
    return sn.SearchSpec(
        method=method,
        xi=config.weight_lr if method == "darts2" else 0.0,
        num_steps=config.num_steps,
        tau_max=config.gdas.tau_max,
        tau_min=config.gdas.tau_min,
        n_nbr=n.n_nbr,
        d=n.d,
        eps=n.eps,
        perturbation=n.perturbation,
        aggregate=n.aggregate,
        cost_table=cost,
        cost_weight=config.cost_weight,
    )


def make_optimizer(config) -> optax.GradientTransformation:
    keys = ("weight_lr", "weight_decay", "grad_clip", "arch_lr", "arch_weight_decay")
    return sn.darts_search_optimizer(num_steps=config.num_steps, **{k: config[k] for k in keys})


def build(config, method: str) -> dict:
    """Model, spec, optimizer and the jitted step / eval functions of one method (reused by all
    seeds, so each method compiles once)."""
    model, spec, opt = make_model(config, method), make_spec(config, method), make_optimizer(config)
    return {
        "model": model,
        "opt": opt,
        "init": jax.jit(lambda k, x: sn.init_search_state(model, opt, x, key=k)),
        "step": jax.jit(sn.make_search_step(model, spec, opt)),
        "eval": sn.make_accuracy_fn(model),
    }


def search_one(config, method: str, seed: int, table, writer=None, built=None) -> dict:
    """One search run; returns its selected cells, their NB201 accuracies and α."""
    t0 = time.time()
    ds = load_search_data(config, seed)
    built = built or build(config, method)
    step_fn = built["step"]
    key = jax.random.key(seed)
    state = built["init"](key, jnp.asarray(ds["train"]["image"][:2]))
    k_step = jax.random.fold_in(key, 1)
    hist = []
    for step in range(config.num_steps):
        tb = _batch(ds["train"], step, config.batch_size, seed)
        vb = _batch(ds["val"], step, config.batch_size, seed + 7919)
        state, m = step_fn(state, tb, vb, k_step)
        if (step + 1) % config.log_every == 0 or step + 1 == config.num_steps:
            m = {k: float(v) for k, v in m.items()}
            hist.append({"step": step + 1, **m})
            if writer is not None:
                writer.write_scalars(step + 1, {f"{method}/s{seed}/{k}": v for k, v in m.items()})
    alpha = np.asarray(state["params"]["alpha"])
    probs = np.asarray(jax.nn.softmax(state["params"]["alpha"], -1))
    variables = {"params": state["params"]["net"], "batch_stats": state["batch_stats"]}
    sel_batch = ds["select"]

    def eval_fn(ws):
        return built["eval"](variables, ws, sel_batch)

    out = {"method": method, "seed": seed, "alpha": alpha.tolist(), "probs": probs.tolist()}
    out["supernet_select_acc"] = float(eval_fn(jnp.asarray(probs)[None])[0])
    out["history"] = hist
    cells = {}
    if config.selection in ("argmax", "both"):
        cells["argmax"] = sn.select_argmax(alpha)
    if config.selection in ("perturbation", "both"):
        cell, info = sn.select_by_perturbation(
            eval_fn, jnp.asarray(probs), key=jax.random.fold_in(key, 2)
        )
        cells["perturbation"] = cell
        out["perturbation_info"] = {k: v for k, v in info.items() if k != "drops"}
    for name, cell in cells.items():
        res = sn.nb201_lookup(table, cell)
        res["supernet_onehot_acc"] = float(eval_fn(sn.cell_to_mask(cell)[None])[0])
        out[name] = res
    out["seconds"] = time.time() - t0
    return out


# ---------------------------------------------------------------- outputs
def plot(runs: list[dict], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted({r["method"] for r in runs})
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    for j, sel in enumerate(SELECTIONS):
        for i, m in enumerate(methods):
            vals = [r[sel]["test_acc"] for r in runs if r["method"] == m and sel in r]
            xs = np.full(len(vals), i + (j - 0.5) * 0.3)
            ax.scatter(xs, vals, color=f"C{j}", label=sel if i == 0 else None, s=18)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_ylabel("NB201 CIFAR-10 test acc (200 ep) of selected cell")
    ax.axhline(54.30, color="gray", ls=":", lw=1)
    ax.legend(fontsize=8)
    ax = axes[1]
    mean_probs = np.array(
        [np.mean([r["probs"] for r in runs if r["method"] == m], 0) for m in methods]
    )
    im = ax.imshow(mean_probs.mean(1), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(methods)), methods)
    ax.set_xticks(range(len(NB201_OPS)), [o.replace("_", "\n") for o in NB201_OPS], fontsize=7)
    ax.set_title("softmax(α) averaged over edges and seeds")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main
def train_and_evaluate(config, workdir: str) -> dict:
    for m in config.methods:
        if m not in sn.SEARCH_METHODS:
            raise ValueError(f"Unknown method {m!r}; valid: {sn.SEARCH_METHODS}.")
    if config.selection not in (*SELECTIONS, "both"):
        raise ValueError(f"Unknown selection {config.selection!r}; valid: {SELECTIONS} or 'both'.")
    jax.config.update("jax_threefry_partitionable", True)
    wd = pathlib.Path(workdir)
    writer = MetricWriter(wd)
    writer.write_config(config)
    table = nb.load_nb201("cifar10", config.data_dir or None)
    runs_path = wd / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else []
    done = {(r["method"], r["seed"]) for r in runs}
    built = {}
    for seed in config.seeds:
        for method in config.methods:
            if (method, seed) in done:
                continue
            log.info("search %s seed %d", method, seed)
            if method not in built:
                built[method] = build(config, method)
            r = search_one(config, method, int(seed), table, writer, built[method])
            log.info(
                "%s seed %d: %s",
                method,
                seed,
                {s: (r[s]["arch"], r[s]["test_acc"]) for s in SELECTIONS if s in r},
            )
            runs.append(r)
            if writer.active:  # process 0 writes, as the writer does
                write_json_atomic(runs_path, runs)
    results = sn.summarize_searches(runs, table)
    writer.write_results(results)
    if config.get("plot", True) and writer.active:
        plot(runs, wd / "darts_nb201.png")
    return results
