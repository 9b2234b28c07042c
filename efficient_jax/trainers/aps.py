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

import functools
import json
import logging
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from efficient_jax import data, models, train
from efficient_jax.nas import channels as aps
from efficient_jax.trainers import (
    _pipeline,
    _plots,  # noqa: F401  (matplotlib backend setup)
)

log = logging.getLogger("efficient_jax")


def _prep(images):
    return data.normalize_images(jnp.asarray(images), data.CIFAR10_MEAN, data.CIFAR10_STD)


def _xent(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def search(config, space, strategy, pretrained, train_split, val_split, writer, ckpt_dir):
    """One APS search; returns the chosen choices and a dict of figures.

    The search state (supernet, transforms, controller, optimizers, reward baseline) is saved with
    orbax every ``config.checkpoint_every`` steps in ``ckpt_dir`` and a rerun resumes there.
    """
    key = jax.random.key(config.seed)
    model = space.model()
    transforms = aps.init_aps_transforms(space, strategy, key=key, noise=config.transform_noise)
    x0 = jnp.zeros((2, 32, 32, 3))
    params = model.init(key, x0, jnp.zeros(space.num_blocks, jnp.int32), transforms)["params"]
    if pretrained is not None:
        params = aps.init_from_pretrained(params, pretrained, space, transforms)
    total = config.warmup_steps + config.search_steps
    sched = optax.piecewise_constant_schedule(
        config.learning_rate, {int(total * 0.5): 0.1, int(total * 0.75): 0.1}
    )
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay), optax.sgd(sched, 0.9))
    opt = tx.init(params)
    ctrl = aps.Controller(space.num_blocks, space.num_choices, config.controller_hidden)
    cparams = ctrl.init(key, jnp.zeros(space.num_blocks, jnp.int32))
    ctx = optax.adam(config.controller_lr)
    copt = ctx.init(cparams)
    masks = [aps.column_mask(w) for w in space.widths]
    target = config.target_macs

    @jax.jit
    def w_step(params, opt, transforms, choices, batch):
        def loss(p):
            logits = model.apply({"params": p}, _prep(batch["image"]), choices, transforms)
            return _xent(logits, batch["label"]), logits

        (lv, logits), g = jax.value_and_grad(loss, has_aux=True)(params)
        upd, opt = tx.update(g, opt, params)
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return optax.apply_updates(params, upd), opt, lv, acc

    @jax.jit
    def val_acc(params, transforms, choices, batch):
        logits = model.apply({"params": params}, _prep(batch["image"]), choices, transforms)
        return jnp.mean(jnp.argmax(logits, -1) == batch["label"])

    @jax.jit
    def c_step(cparams, copt, actions, rewards, baseline):
        def obj(cp):
            lp, ent = jax.vmap(lambda a: aps.sequence_logprob(ctrl, cp, a))(actions)
            return -jnp.mean(lp * (rewards - baseline)) - config.entropy_weight * jnp.mean(ent)

        g = jax.grad(obj)(cparams)
        upd, copt = ctx.update(g, copt, cparams)
        return optax.apply_updates(cparams, upd), copt

    sample = jax.jit(lambda cp, k: aps.sample_actions(ctrl, cp, k))

    @functools.partial(jax.jit, static_argnums=1)
    def anneal(transforms, side):
        return [
            {s: (aps.anneal_step(t[s], m, config.transform_lr) if s == side else t[s]) for s in t}
            for t, m in zip(transforms, masks)
        ]

    baseline = None
    phi0 = float(aps.network_sharing_level(transforms, space.depth))

    def search_state():
        return {
            "params": params,
            "opt": opt,
            "transforms": transforms,
            "cparams": cparams,
            "copt": copt,
            "baseline": np.asarray(np.nan if baseline is None else baseline),
            "phi_start": np.asarray(phi0),
        }

    ckpt = train.Checkpointer(ckpt_dir, max_to_keep=1)
    state, start = ckpt.maybe_restore(search_state())
    if start is not None:
        params, opt, transforms = state["params"], state["opt"], state["transforms"]
        cparams, copt, phi0 = state["cparams"], state["copt"], float(state["phi_start"])
        baseline = None if np.isnan(state["baseline"]) else float(state["baseline"])
        log.info("APS %s: resuming the search after step %d of %d", strategy, start, total)
    every = max(int(config.get("checkpoint_every", 1000)), 1)
    t0 = time.time()
    for step in range(start or 0, total):
        batch = data.batch_at(train_split, step, config.batch_size, seed=config.seed)
        if step < config.warmup_steps:
            rng = np.random.default_rng([config.seed, step])  # stateless: resumable
            choices = jnp.asarray(rng.integers(0, space.num_choices, space.num_blocks), jnp.int32)
        else:
            choices = sample(cparams, jax.random.fold_in(key, step))
        params, opt, loss, acc = w_step(params, opt, transforms, choices, batch)
        row = {"strategy": strategy, "step": step, "loss": float(loss), "train_acc": float(acc)}
        if step >= config.warmup_steps:
            if strategy == "transition":
                side = "q" if (step // config.transform_alternate) % 2 else "p"
                transforms = anneal(transforms, side)
            if (step - config.warmup_steps) % config.controller_every == 0:
                vb = data.batch_at(val_split, step, config.val_batch_size, seed=config.seed + 1)
                acts, rewards = [], []
                for j in range(config.controller_samples):
                    a = sample(cparams, jax.random.fold_in(key, 10_000_000 + step * 100 + j))
                    va = float(val_acc(params, transforms, a, vb))
                    r = float(
                        aps.mnasnet_reward(
                            va,
                            space.macs(np.asarray(a)),
                            target,
                            config.reward_alpha,
                            config.reward_beta,
                        )
                    )
                    acts.append(a)
                    rewards.append(r)
                rewards_arr = jnp.asarray(rewards)
                mean_r = float(rewards_arr.mean())
                baseline = (
                    mean_r
                    if baseline is None
                    else (config.baseline_decay * baseline + (1 - config.baseline_decay) * mean_r)
                )
                cparams, copt = c_step(cparams, copt, jnp.stack(acts), rewards_arr, baseline)
                row.update(reward=mean_r, baseline=baseline)
        if step % config.log_every == 0 or step == total - 1:
            row["phi"] = float(aps.network_sharing_level(transforms, space.depth))
            row["elapsed_s"] = time.time() - t0
            writer.write_scalars(step, {k: v for k, v in row.items() if k != "step"})
        if (step + 1) % every == 0 or step + 1 == total:
            ckpt.save(step + 1, search_state(), force=True)
    ckpt.close()
    # Algorithm 4 picks the candidate closest to the target; a beam over prefixes that can still
    # meet it guarantees one exists (the soft reward alone can leave the whole beam over budget).
    feasible = (
        aps.within_budget(space, target * (1 + config.budget_slack))
        if config.get("constrained_beam", True)
        else None
    )
    beams = aps.beam_search(ctrl, cparams, config.beam, feasible=feasible)
    choices, macs = aps.pick_architecture(beams, space, target)
    return (
        params,
        transforms,
        choices,
        {
            "phi_start": phi0,
            "phi_end": float(aps.network_sharing_level(transforms, space.depth)),
            "search_s": time.time() - t0,
            "macs": float(macs),
            "top1_logprob": float(beams[0][1]),
        },
    )


def finetune(config, space, params, transforms, choices, train_split, test_split, tag, ckpt_dir):
    """Trains the child network of ``choices`` (inheriting the candidate kernels); test accuracy.

    Checkpointed every ``config.checkpoint_every`` steps in ``ckpt_dir``; a rerun resumes.
    """
    model, variables = aps.extract_child(params, transforms, choices, space)
    steps = config.finetune_steps
    sched = optax.cosine_decay_schedule(config.finetune_lr, max(steps, 1))
    tx = optax.chain(optax.add_decayed_weights(config.weight_decay), optax.sgd(sched, 0.9))
    state = {
        "params": variables["params"],
        "batch_stats": variables["batch_stats"],
        "opt": tx.init(variables["params"]),
        "step": jnp.zeros((), jnp.int32),
    }
    ckpt = train.Checkpointer(ckpt_dir, max_to_keep=1)
    state, start = ckpt.maybe_restore(state)
    if start is not None:
        log.info("%s: resuming the child's training after step %d of %d", tag, start, steps)
    every = max(int(config.get("checkpoint_every", 1000)), 1)
    step_fn = jax.jit(train.make_train_step(model, tx, seed=config.seed))
    aug_key = jax.random.key(config.seed + 7)
    for step in range(start or 0, steps):
        b = data.batch_at(train_split, step, config.batch_size, seed=config.seed + 3)
        img = data.augment_cifar(jax.random.fold_in(aug_key, step), jnp.asarray(b["image"]))
        state, _ = step_fn(state, {"image": _prep(img), "label": jnp.asarray(b["label"])})
        if (step + 1) % every == 0 or step + 1 == steps:
            ckpt.save(step + 1, state, force=True)
    ckpt.close()
    eval_step = jax.jit(train.make_eval_step(model))
    tot = {"correct": 0.0, "count": 0.0}
    for b in data.eval_batches(test_split, config.eval_batch_size):
        out = eval_step(
            {"params": state["params"], "batch_stats": state["batch_stats"]},
            {**b, "image": _prep(b["image"])},
        )
        tot["correct"] += float(out["correct"])
        tot["count"] += float(out["count"])
    log.info("%s: test accuracy %.4f", tag, tot["correct"] / tot["count"])
    return tot["correct"] / tot["count"]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    space = aps.make_space(config.width_ratios, config.depth)
    for s in config.strategies:
        if s not in aps.APS_STRATEGIES:
            raise ValueError(f"Unknown APS strategy {s!r}; valid: {aps.APS_STRATEGIES}.")
    full = aps.resnet_macs(aps.uniform_widths(1.0, config.depth), config.depth)
    if config.target_macs <= 0:
        config.target_macs = full * config.target_ratio
    space.check_target(config.target_macs)  # impossible targets fail before any work
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=2))
    train_all = data.get_dataset("cifar10", "train", config.get("data_dir") or None)
    test_split = data.get_dataset("cifar10", "test", config.get("data_dir") or None)
    if config.get("test_limit"):
        test_split = data.batch_at(test_split, 0, config.test_limit, seed=config.seed)
    n = len(train_all["label"])
    perm = np.random.default_rng(config.seed).permutation(n)
    val_idx, train_idx = perm[: config.val_size], perm[config.val_size :]
    train_split = {k: v[train_idx] for k, v in train_all.items()}
    val_split = {k: v[val_idx] for k, v in train_all.items()}
    pretrained = None
    if config.init_from_pytorch:
        _, v = models.load_pytorch_resnet(_pipeline.resolve_path(config, config.init_from_pytorch))
        pretrained = v["params"]
    results: dict[str, float] = {"full_macs": float(full), "target_macs": float(config.target_macs)}
    rows = []
    writer = train.MetricWriter(workdir)
    for strategy in config.strategies:
        ckpt_dir = os.path.join(workdir, "checkpoints", strategy)
        params, transforms, choices, info = search(
            config,
            space,
            strategy,
            pretrained,
            train_split,
            val_split,
            writer,
            ckpt_dir + "_search",
        )
        widths = aps.choices_to_widths(choices, space.widths)
        acc = finetune(
            config,
            space,
            params,
            transforms,
            choices,
            train_split,
            test_split,
            strategy,
            ckpt_dir + "_child",
        )
        tag = {"ordinal": "aps_o", "independent": "aps_i", "transition": "aps_t"}[strategy]
        results.update({f"{tag}_{k}": v for k, v in info.items()})
        results[f"{tag}_accuracy"] = acc
        results[f"{tag}_macs_reduction"] = 1.0 - info["macs"] / full
        rows.append(
            {
                "method": f"APS-{tag[-1].upper()}",
                "macs": info["macs"],
                "acc": acc,
                "widths": widths,
            }
        )
        log.info(
            "APS %s: widths %s, %.2fM MACs, acc %.4f", strategy, widths, info["macs"] / 1e6, acc
        )
        _write(workdir, results, rows)
    if config.baseline_uniform:
        # Inner widths enter both convs of a block linearly: MACs scale ~linearly with the ratio.
        widths = aps.uniform_widths(config.target_ratio, config.depth)
        results["uniform_macs"] = float(aps.resnet_macs(widths, config.depth))
        results["uniform_accuracy"] = _uniform(
            config, widths, pretrained, train_split, test_split, workdir
        )
        rows.append(
            {
                "method": "uniform",
                "macs": results["uniform_macs"],
                "acc": results["uniform_accuracy"],
                "widths": widths,
            }
        )
        _write(workdir, results, rows)
    _plot(workdir, rows, full)
    return results


def _uniform(config, widths, pretrained, train_split, test_split, workdir):
    """Uniform-width baseline: ordinal slices of the pretrained net, trained like the children."""
    space = aps.APSSpace(tuple((int(w),) for w in widths), config.depth)
    key = jax.random.key(config.seed)
    tr = aps.init_aps_transforms(space, "ordinal", key=key)
    params = space.model().init(
        key, jnp.zeros((2, 32, 32, 3)), jnp.zeros(space.num_blocks, jnp.int32), tr
    )["params"]
    if pretrained is not None:
        params = aps.init_from_pretrained(params, pretrained, space, tr)
    return finetune(
        config,
        space,
        params,
        tr,
        [0] * space.num_blocks,
        train_split,
        test_split,
        "uniform",
        os.path.join(workdir, "checkpoints", "uniform_child"),
    )


def _write(workdir, results, rows):
    tmp = os.path.join(workdir, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(workdir, "results.json"))
    with open(os.path.join(workdir, "architectures.json"), "w") as f:
        json.dump(rows, f, indent=2)


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
