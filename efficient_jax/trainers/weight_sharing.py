"""Deep k-Means (Wu et al., ICML 2018): WR vs re-trained sharing at several CRs, with energy.

For every target per-layer CR in ``config.ratios`` the trainer shares all conv kernels row-wise
with k-means, once on the base weights ("WR", without re-training) and once after re-training
with the k-means regulariser for each λ in ``config.strengths`` (re-training for all λ at the CRs
in ``config.sweep_ratios``, only ``strengths[0]`` elsewhere). The base model is the PyTorch
checkpoint ``config.init_from_pytorch`` or is trained first for ``config.pretrain_steps``.

Config fields beyond the classification ones (see ``configs/deep_kmeans_lenet5_digits.py``):
``ratios``, ``sweep_ratios``, ``strengths``, ``reg_mode``, ``update_every``, ``layout``,
``zero_fraction``, ``first_layer_ratio``, ``pretrain_steps``, ``pretrain_optimizer``,
``pretrain_learning_rate``, ``energy_bits``. ``num_steps`` and the optimizer fields describe one
re-training run.

Writes ``workdir/{results.json, metrics.jsonl, config.json, drop_vs_cr.png}``; each re-training
run checkpoints under ``workdir/cr<R>_lam<λ>/`` and resumes.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import jax
import jax.numpy as jnp
import matplotlib
import ml_collections

from efficient_jax import cost, models, parallel, share, train
from efficient_jax.trainers import _pipeline
from efficient_jax.trainers.classification import train_model

matplotlib.use("Agg")
log = logging.getLogger("efficient_jax")


def _base_variables(config, s: _pipeline.Setup, workdir: str, writer) -> dict:
    if config.get("init_from_pytorch"):
        _, variables = models.load_pytorch_resnet(config.init_from_pytorch)
        # Host copies: the train step donates its state, which must not delete the base weights.
        return jax.device_get(
            {k: variables[k] for k in ("params", "batch_stats") if k in variables}
        )
    pre = ml_collections.ConfigDict(config.to_dict())
    pre.num_steps = config.pretrain_steps
    pre.optimizer = config.pretrain_optimizer
    pre.learning_rate = config.pretrain_learning_rate
    ps = dataclasses.replace(s, config=pre, tx=train.make_optimizer(pre, pre.num_steps))
    state = train_model(ps, os.path.join(workdir, "pretrain"), writer)
    return jax.device_get(train.state_variables(state))


def _retrain(s, base, clusters, strength, workdir, writer, tag):
    config = s.config
    tx = share.deep_kmeans(
        s.tx,
        clusters,
        key=jax.random.key(config.seed + 7),
        strength=strength,
        mode=config.reg_mode,
        update_every=config.update_every,
        layout=config.layout,
        zero_fraction=config.zero_fraction,
    )
    rs = dataclasses.replace(s, tx=tx)
    batch = s.preprocess(jax.tree.map(jnp.asarray, s.sample_batch), None)
    args, _ = train.model_inputs(batch)
    state = train.create_train_state(
        s.model,
        tx,
        args[0][:1],
        key=jax.random.key(config.seed),
        params=base["params"],
        batch_stats=base.get("batch_stats"),
    )
    state = parallel.replicate(state, s.mesh)
    ckpt = train.Checkpointer(os.path.join(workdir, tag, "checkpoints"), max_to_keep=1)
    state, _ = ckpt.maybe_restore(state)
    try:
        state = train.fit(
            _pipeline.jit_train_step(rs),
            state,
            _pipeline.batch_fn(rs),
            num_steps=config.num_steps,
            writer=writer,
            checkpointer=ckpt,
            log_every=config.log_every,
            checkpoint_every=config.get("checkpoint_every") or None,
            desc=tag,
        )
    finally:
        ckpt.close()
    return jax.device_get(train.state_variables(state))


def _evaluate_shared(s, evaluate, base, variables, clusters, energy_args, key):
    tree = share.share_params(variables["params"], clusters, key=key, layout=s.config.layout)
    shared = {**variables, "params": share.expand_params(tree)}
    stored = {**variables, "params": tree}
    bits = s.config.energy_bits
    rep = cost.energy(
        s.model.apply,
        shared,
        *energy_args,
        train=False,
        weight_bits=bits,
        act_bits=bits,
        unique_weights=share.unique_weights(tree),
    )
    return {
        "accuracy": evaluate(shared)["accuracy"],
        "model_cr_fixed": share.compression_ratio(base, stored),
        "model_cr_huffman": share.compression_ratio(base, stored, "huffman"),
        "energy": rep.energy,
        "weight_repr": rep.weight_repr,
    }, rep


def _plot(results: dict, ratios, strengths, path: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(ratios, [-100 * results[f"cr{r:g}/wr/drop"] for r in ratios], "o-", label="WR")
    lam = strengths[0]
    ax.plot(
        ratios,
        [-100 * results[f"cr{r:g}/lam{lam:g}/drop"] for r in ratios],
        "s-",
        label=f"re-trained λ={lam:g}",
    )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("per-layer CR (fixed-length indices)")
    ax.set_ylabel("accuracy change (points)")
    ax.axhline(0, color="gray", lw=0.5)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs the WR / re-trained sweep; returns the flat results dict."""
    for field in ("ratios", "strengths"):
        if not list(config.get(field) or []):
            raise ValueError(f"config.{field} must be a non-empty list.")
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    evaluate = _pipeline.make_evaluator(s)

    # ---------------------------------------------------------------- base model
    base = _base_variables(config, s, workdir, writer)
    base_acc = evaluate(base)["accuracy"]
    sample = s.preprocess(jax.tree.map(jnp.asarray, s.sample_batch), None)
    energy_args = tuple(a[:1] for a in train.model_inputs(sample)[0])
    bits = config.energy_bits
    base_energy = cost.energy(
        s.model.apply, base, *energy_args, train=False, weight_bits=bits, act_bits=bits
    )
    log.info("base accuracy %.4f; energy per layer:\n%s", base_acc, base_energy.table())
    results: dict[str, float] = {"base/accuracy": base_acc, "base/energy": base_energy.energy}
    for layer, e in base_energy.per_layer.items():
        results[f"base/energy/{layer}"] = e.energy

    # ---------------------------------------------------------------- sweep
    key = jax.random.key(config.seed)
    for ratio in config.ratios:
        clusters = share.clusters_for_ratio(
            base["params"],
            ratio,
            layout=config.layout,
            first_layer_target=config.get("first_layer_ratio") or None,
        )
        runs = [("wr", None)] + [
            (f"lam{lam:g}", lam)
            for i, lam in enumerate(config.strengths)
            if i == 0 or ratio in list(config.get("sweep_ratios") or [])
        ]
        for name, lam in runs:
            tag = f"cr{ratio:g}/{name}"
            variables = base
            if lam is not None:
                variables = _retrain(s, base, clusters, lam, workdir, writer, f"cr{ratio:g}_{name}")
                results[f"{tag}/dense_accuracy"] = evaluate(variables)["accuracy"]
            row, rep = _evaluate_shared(s, evaluate, base, variables, clusters, energy_args, key)
            row["drop"] = base_acc - row["accuracy"]
            results.update({f"{tag}/{k}": v for k, v in row.items()})
            log.info("%s: %s", tag, row)
            if name == "wr":
                for layer, e in rep.per_layer.items():
                    results[f"{tag}/energy/{layer}"] = e.energy
    writer.write_results(results)
    if jax.process_index() == 0:
        _plot(results, list(config.ratios), list(config.strengths), f"{workdir}/drop_vs_cr.png")
    return results
