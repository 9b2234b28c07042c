"""Few-shot pruning by cross distillation (Bai 2021, Ch. 3): L1-norm vs w/o CD vs CD vs SCD.

The teacher is the PyTorch checkpoint ``config.init_from_pytorch`` (ResNet-20) or is trained first
for ``config.pretrain_steps`` (checkpointed under ``workdir/pretrain``, resumes). For every
few-shot seed in ``config.seeds`` the trainer draws ``config.k`` training images per class and
prunes the layers selected by ``config.rules`` with each method in ``config.methods``:

* ``l1_norm``: data-free baseline, no training (:func:`~efficient_jax.prune.l1_norm_baseline`):
  L1-norm filter pruning (Li et al.) of the producers for channel pruning, per-layer |w|
  (element-wise L1) for unstructured pruning;
* ``none`` / ``cd`` / ``scd``: Algorithm 1 with Eq. 3.1 / 3.4 / 3.15 (:func:`few_shot_prune`).

No fine-tuning follows (the thesis's "without fine-tuning" comparison). Each pruned model is
evaluated on the test split. For channel pruning the CD model is also exported physically
(:func:`~efficient_jax.prune.export_channel_pruned`), checked equal to the masked model, and its
parameters, MACs and latency are compared with the dense teacher's.

Config fields beyond the classification ones (see ``configs/few_shot_pruning_resnet20_cifar10.py``):
``k``, ``seeds``, ``methods``, ``structure``, ``rules`` (list of ``(regex, sparsity)``), ``mu``,
``alpha``, ``beta``, ``layer_steps``, ``layer_learning_rate``, ``ramp``, ``lr_drop``,
``prox_lambda``, ``pretrain_steps``, ``latency_batch``.

Writes ``workdir/{results.json, metrics.jsonl, config.json, partial.json}``; finished
(method, seed) runs are kept in ``partial.json`` and skipped when the run is restarted.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from efficient_jax import cost, models, prune, train
from efficient_jax.trainers import _pipeline
from efficient_jax.trainers.classification import train_model

log = logging.getLogger("efficient_jax")

METHODS = ("l1_norm", "none", "cd", "scd")


def _teacher(config, s: _pipeline.Setup, workdir: str, writer) -> dict:
    if config.get("init_from_pytorch"):
        _, variables = models.load_pytorch_resnet(
            _pipeline.resolve_path(config, config.init_from_pytorch)
        )
        return jax.device_get(
            {k: variables[k] for k in ("params", "batch_stats") if k in variables}
        )
    if not config.get("pretrain_steps"):
        raise ValueError(
            "Give config.init_from_pytorch or config.pretrain_steps > 0 for a teacher."
        )
    pre = ml_collections.ConfigDict(config.to_dict())
    pre.num_steps = config.pretrain_steps
    ps = dataclasses.replace(s, config=pre, tx=train.make_optimizer(pre, pre.num_steps))
    state = train_model(ps, os.path.join(workdir, "pretrain"), writer)
    return jax.device_get(train.state_variables(state))


def _rules(config) -> list[tuple[str, float]]:
    rules = [(str(r), float(v)) for r, v in config.rules]
    for regex, value in rules:
        prune.check_sparsity(value, f"sparsity of rule {regex!r}")
    return rules


def _export_figures(model, teacher, student, masks, images, chosen, batch: int) -> dict:
    groups = prune.channel_groups(model, teacher, images, list(chosen))
    slim, kept = prune.export_channel_pruned(student, masks, groups)
    err = prune.verify_export(model, student, slim, images[:8])
    x1 = images[:1]
    slim_fn = prune.slim_apply(model)
    dense_macs = cost.macs(model.apply, teacher, x1, train=False).total
    slim_macs = cost.macs(slim_fn, slim, x1).total
    xb = jnp.broadcast_to(images[:1], (batch, *images.shape[1:]))
    dense_fn = jax.jit(lambda x: model.apply(teacher, x, train=False))
    slim_jit = jax.jit(lambda x: slim_fn(slim, x))
    lat_dense, lat_slim = cost.compare_latency(dense_fn, slim_jit, xb, iters=20)
    return {
        "export/max_abs_logit_diff": err,
        "export/params_dense": cost.count_params(teacher["params"]),
        "export/params_slim": cost.count_params(slim["params"]),
        "export/macs_dense": dense_macs,
        "export/macs_slim": slim_macs,
        "export/latency_dense_ms": 1e3 * lat_dense.median,
        "export/latency_slim_ms": 1e3 * lat_slim.median,
        "export/slim_vs_dense_latency_ratio": lat_slim.median / lat_dense.median,
        "export/channels_kept": int(sum(kept.values())),
    }


def _fmt(entry: dict) -> str:
    out = f"top-1 {entry['top1']:.4f}"
    if "top1_bn" in entry:
        out += f", with BN statistics re-estimated on the few-shot images {entry['top1_bn']:.4f}"
    return out


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs every method for every few-shot seed; returns the flat results."""
    start = time.perf_counter()
    methods = list(config.methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"config.methods must be a non-empty subset of {METHODS}; got {methods}.")
    rules = _rules(config)
    layer_config = prune.LayerwiseConfig(
        method="cd",
        structure=config.structure,
        mu=config.mu,
        alpha=config.alpha,
        beta=config.beta,
        steps=config.layer_steps,
        learning_rate=config.layer_learning_rate,
        ramp=config.ramp,
        lr_drop=config.lr_drop,
        prox_lambda=config.prox_lambda,
    )  # Validates structure, μ, α, β, steps before any work.
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    labels = np.asarray(s.train_data["label"])
    for seed in config.seeds:  # K larger than the data fails here, before the teacher is built.
        prune.few_shot_indices(labels, int(config.k), seed=int(seed))
    sample = s.preprocess(jax.tree.map(jnp.asarray, s.sample_batch), None)["image"][:1]
    shapes = jax.eval_shape(s.model.init, jax.random.key(0), sample)
    prune.select_layers(prune.model_layers(s.model, shapes, sample), rules)  # Rules fail early.
    teacher = _teacher(config, s, workdir, writer)
    evaluate = _pipeline.make_evaluator(s)
    results: dict[str, float] = {"teacher/top1": evaluate(teacher)["accuracy"]}
    log.info("teacher top-1 %.4f", results["teacher/top1"])
    partial_path = os.path.join(workdir, "partial.json")
    done = json.load(open(partial_path)) if os.path.exists(partial_path) else {}
    step = 0
    for seed in config.seeds:
        idx = prune.few_shot_indices(labels, int(config.k), seed=int(seed))
        few = s.preprocess({k: jnp.asarray(v[idx]) for k, v in s.train_data.items()}, None)
        images = few["image"]
        for method in methods:
            tag = f"{method}/seed{seed}"
            if tag in done:
                continue
            t0 = time.perf_counter()
            if method == "l1_norm":
                student, masks = prune.l1_norm_baseline(
                    s.model, teacher, images, rules, config.structure
                )
            else:
                cfg = dataclasses.replace(layer_config, method=method)

                def log_layer(path, figures, _method=method, _seed=seed):
                    nonlocal step
                    step += 1
                    writer.write_scalars(
                        step, {"method": _method, "seed": _seed, "layer": path, **figures}
                    )

                student, masks, _ = prune.few_shot_prune(
                    s.model, teacher, images, rules, cfg, log=log_layer
                )
            acc = evaluate(student)["accuracy"]
            done[tag] = {"top1": acc, "seconds": time.perf_counter() - t0}
            if config.get("bn_reestimate", False) and "batch_stats" in student:
                recal = prune.reestimate_batch_stats(s.model, student, images)
                done[tag]["top1_bn"] = evaluate(recal)["accuracy"]
            log.info("%s: %s (%.0f s)", tag, _fmt(done[tag]), done[tag]["seconds"])
            if (
                method == "cd"
                and config.structure == "channel"
                and "export/params_slim" not in done
            ):
                chosen = prune.select_layers(prune.model_layers(s.model, teacher, images), rules)
                done.update(
                    _export_figures(
                        s.model, teacher, student, masks, images, chosen, config.latency_batch
                    )
                )
            if writer.active:  # process 0 writes, as the writer does
                train.write_json_atomic(partial_path, done)
    for method in methods:
        for key in ("top1", "top1_bn"):
            accs = [done[f"{method}/seed{seed}"].get(key) for seed in config.seeds]
            if all(a is not None for a in accs):
                results[f"{method}/{key}"] = float(np.mean(accs))
                results[f"{method}/{key}_std"] = float(np.std(accs))
        results[f"{method}/seconds"] = float(
            np.mean([done[f"{method}/seed{seed}"]["seconds"] for seed in config.seeds])
        )
    results.update({k: v for k, v in done.items() if k.startswith("export/")})
    results["k"] = int(config.k)
    results["num_seeds"] = len(config.seeds)
    results["wall_time_s"] = time.perf_counter() - start
    writer.write_results(results)
    log.info("results: %s", results)
    return results
