"""APS channel-number search on a CIFAR ResNet, then training of the searched widths.

Algorithm 4 of Bai's thesis (§6.4) for each strategy in ``config.strategies`` (APS-O ordinal,
APS-I independent, APS-T transition): warm-up of the supernet with uniformly sampled widths
(transforms fixed), then controller training by REINFORCE with the MnasNet reward on a held-out
split while the supernet keeps training on sampled widths and (APS-T only) Φ is annealed by
projected gradient descent on P, Q; then beam search, the candidate closest to the FLOPs target,
and training of the child network (inheriting the candidate kernels). Writes ``results.json``
(accuracy, MACs, Φ per strategy), ``metrics.jsonl`` and ``aps_accuracy_vs_flops.png``. Search and
child training save orbax checkpoints every ``config.checkpoint_every`` steps
(``workdir/checkpoints/<strategy>_search``, ``<strategy>_child``); rerunning the same command
resumes each where it stopped.
"""

from __future__ import annotations

import logging
import os

import jax
import ml_collections
import numpy as np

from efficient_jax import data, models, train
from efficient_jax.nas import channels as aps
from efficient_jax.trainers import (
    _pipeline,
    _plots,  # noqa: F401  (matplotlib backend setup)
)

log = logging.getLogger("efficient_jax")
TAGS = {"ordinal": "aps_o", "independent": "aps_i", "transition": "aps_t"}


def _load_splits(config):
    """``(train, val, test)`` CIFAR-10 splits (``val_size`` held-out training images), info."""
    ds = data.load("cifar10", data_dir=config.get("data_dir") or None)
    train_all, test_split = ds.train_data, ds.eval_data
    if config.get("test_limit"):
        test_split = data.batch_at(test_split, 0, config.test_limit, seed=config.seed)
    n = len(train_all["label"])
    perm = np.random.default_rng(config.seed).permutation(n)
    val_idx, train_idx = perm[: config.val_size], perm[config.val_size :]
    train_split = {k: v[train_idx] for k, v in train_all.items()}
    val_split = {k: v[val_idx] for k, v in train_all.items()}
    return (train_split, val_split, test_split), ds.info


def _hooks(ckpt_dir):
    """Orbax ``(checkpointer, restore_fn, checkpoint_fn)`` for one search or child training."""
    ckpt = train.Checkpointer(ckpt_dir, max_to_keep=1)
    return ckpt, ckpt.maybe_restore, lambda step, state: ckpt.save(step, state, force=True)


def _train_child(config, space, params, transforms, choices, splits, tag, ckpt_dir, norm):
    ckpt, restore_fn, checkpoint_fn = _hooks(ckpt_dir)
    try:
        return aps.train_child(
            space,
            params,
            transforms,
            choices,
            splits[0],
            splits[2],
            steps=config.finetune_steps,
            learning_rate=config.finetune_lr,
            weight_decay=config.weight_decay,
            batch_size=config.batch_size,
            eval_batch_size=config.eval_batch_size,
            seed=config.seed,
            checkpoint_every=config.get("checkpoint_every", 1000),
            restore_fn=restore_fn,
            checkpoint_fn=checkpoint_fn,
            tag=tag,
            **norm,
        )
    finally:
        ckpt.close()


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    space = aps.make_space(config.width_ratios, config.depth)
    for s in config.strategies:
        if s not in aps.APS_STRATEGIES:
            raise ValueError(f"Unknown APS strategy {s!r}; valid: {aps.APS_STRATEGIES}.")
    full = aps.resnet_macs(aps.uniform_widths(1.0, config.depth), config.depth)
    if config.target_macs <= 0:
        config.target_macs = full * config.target_ratio
    space.check_target(config.target_macs)  # impossible targets fail before any work
    search_cfg = aps.APSSearchConfig.from_mapping(config)
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    splits, info = _load_splits(config)
    norm = {"mean": info.mean, "std": info.std}
    pretrained = None
    if config.init_from_pytorch:
        _, v = models.load_pytorch_resnet(_pipeline.resolve_path(config, config.init_from_pytorch))
        pretrained = v["params"]
    results: dict[str, float] = {"full_macs": float(full), "target_macs": float(config.target_macs)}
    rows = []
    for strategy in config.strategies:
        ckpt_dir = os.path.join(workdir, "checkpoints", strategy)
        ckpt, restore_fn, checkpoint_fn = _hooks(ckpt_dir + "_search")
        try:
            res = aps.run_search(
                space,
                strategy,
                splits[0],
                splits[1],
                search_cfg,
                pretrained=pretrained,
                restore_fn=restore_fn,
                checkpoint_fn=checkpoint_fn,
                log_fn=writer.write_scalars,
                **norm,
            )
        finally:
            ckpt.close()
        state, figures = res.state, res.info
        widths = aps.choices_to_widths(res.choices, space.widths)
        acc = _train_child(
            config,
            space,
            state["params"],
            state["transforms"],
            res.choices,
            splits,
            strategy,
            ckpt_dir + "_child",
            norm,
        )
        tag = TAGS[strategy]
        results.update({f"{tag}_{k}": v for k, v in figures.items()})
        results[f"{tag}_accuracy"] = acc
        results[f"{tag}_macs_reduction"] = 1.0 - figures["macs"] / full
        rows.append(
            {
                "method": f"APS-{tag[-1].upper()}",
                "macs": figures["macs"],
                "acc": acc,
                "widths": widths,
            }
        )
        log.info("APS %s: widths %s, %.2fM MACs, acc %.4f", strategy, widths, res.macs / 1e6, acc)
        _write(writer, results, rows)
    if config.baseline_uniform:
        # Inner widths enter both convs of a block linearly: MACs scale ~linearly with the ratio.
        widths = aps.uniform_widths(config.target_ratio, config.depth)
        uniform = aps.APSSpace(tuple((int(w),) for w in widths), config.depth)
        params, tr = aps.init_supernet(
            uniform, "ordinal", key=jax.random.key(config.seed), pretrained=pretrained
        )
        results["uniform_macs"] = float(aps.resnet_macs(widths, config.depth))
        results["uniform_accuracy"] = _train_child(
            config,
            uniform,
            params,
            tr,
            [0] * uniform.num_blocks,
            splits,
            "uniform",
            os.path.join(workdir, "checkpoints", "uniform_child"),
            norm,
        )
        row = {"method": "uniform", "macs": results["uniform_macs"], "widths": widths}
        rows.append({**row, "acc": results["uniform_accuracy"]})
        _write(writer, results, rows)
    if writer.active:
        _plot(workdir, rows, full)
    return results


def _write(writer, results, rows):
    """``results.json`` and ``architectures.json``, atomically and by process 0 only."""
    writer.write_results(results)
    if writer.active:
        train.write_json_atomic(writer.workdir / "architectures.json", rows)


def _plot(workdir, rows, full):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in rows:
        ax.scatter(r["macs"] / 1e6, 100 * r["acc"], s=40)
        ax.annotate(r["method"], (r["macs"] / 1e6, 100 * r["acc"]), fontsize=8)
    ax.axvline(full / 1e6, color="gray", lw=0.5, ls="--")
    ax.set_xlabel("MACs (M)")
    ax.set_ylabel("CIFAR-10 test accuracy (%)")
    fig.tight_layout()
    fig.savefig(os.path.join(workdir, "aps_accuracy_vs_flops.png"), dpi=120)
    plt.close(fig)
