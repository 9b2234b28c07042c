"""Cascade trainer's model pool: data splits, pool members (trained, derived or quantized), logits.

Helpers of :mod:`efficient_jax.trainers.cascades` (Wang et al., "Wisdom of Committees", ICLR 2022;
thesis Ch. 5): the pool is built once, each member's logits on the held-out and evaluation halves
are cached in ``workdir/logits/<name>.npz`` with its per-example FLOPs.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from efficient_jax import cascade, data, models, parallel, quant, train
from efficient_jax.trainers import _pipeline, classification

log = logging.getLogger("efficient_jax")

_MEMBER_KEYS = (
    "name",
    "model",
    "model_kwargs",
    "num_steps",
    "seed",
    "learning_rate",
    "optimizer",
    "weight_decay",
    "init_from_pytorch",
    "base",
    "resolution",
    "quant_bits",
)


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def load_pool_data(config: ml_collections.ConfigDict) -> tuple[dict, dict, dict, data.DatasetInfo]:
    """``(train, heldout, evaluation, info)`` of ``config.dataset`` (any registered dataset).

    ``train_limit`` keeps a random subset of the train split; the evaluation split (its first
    ``test_limit`` examples of a permutation seeded by ``data_seed``) is cut into a held-out
    part (``heldout_fraction``) and an evaluation part, each in file order.
    """
    if not 0.0 < config.heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1); got {config.heldout_fraction}.")
    ds = _pipeline.load_dataset(config)
    train_data, test_data = ds.train_data, ds.eval_data
    train_limit, test_limit = config.get("train_limit"), config.get("test_limit")
    if train_limit and train_limit < len(train_data["label"]):
        train_data = data.batch_at(train_data, 0, train_limit, seed=config.data_seed)
    n = len(test_data["label"])
    kept = min(test_limit or n, n)
    cut = int(round(kept * config.heldout_fraction))
    heldout, evaluation = data.random_split(
        test_data, (cut, kept - cut), seed=config.data_seed, sort=True
    )
    return train_data, heldout, evaluation, ds.info


def load_splits(config: ml_collections.ConfigDict) -> tuple[dict, dict, dict]:
    """``(train, heldout, evaluation)`` of :func:`load_pool_data`."""
    return load_pool_data(config)[:3]


# ----------------------------------------------------------------------------------------------
# Pool members
# ----------------------------------------------------------------------------------------------
def _member_config(config: ml_collections.ConfigDict, spec: dict) -> ml_collections.ConfigDict:
    unknown = sorted(set(spec) - set(_MEMBER_KEYS))
    if unknown:
        raise ValueError(f"Unknown member key(s) {unknown}; allowed: {list(_MEMBER_KEYS)}.")
    mc = ml_collections.ConfigDict(config.to_dict())
    with mc.unlocked():
        for k in ("model", *_MEMBER_KEYS[3:9]):
            if k in spec:
                mc[k] = spec[k]
        mc.model_kwargs = ml_collections.ConfigDict(
            dict(spec.get("model_kwargs") or {"num_classes": 10})
        )
        if mc.get("init_from_pytorch") == "pretrained":
            mc.init_from_pytorch = os.path.join(
                str(data.resolve_data_dir(config.data_dir or None)),
                "weights",
                "resnet20-12fca82f.npz",
            )
    return mc


def build_model(name: str, kwargs: dict[str, Any]):
    """A registered model (``get_model``) or a model class of ``efficient_jax.models`` by name
    (e.g. ``"ResNet"`` with ``depth=8``, for depths the registry does not name)."""
    if name in models.model_names():
        return models.get_model(name, **kwargs)
    cls = getattr(models, name, None)
    if isinstance(cls, type) and issubclass(cls, nn.Module):
        return cls(**kwargs)
    raise ValueError(
        f"Unknown model {name!r}; valid: {models.model_names()} or a Module class of "
        "efficient_jax.models (e.g. 'ResNet', 'MLP')."
    )


def _train_member(mc, info, train_data, heldout, workdir) -> tuple[Any, Any]:
    """Trains (or resumes, or just initialises) one member; returns ``(model, variables)``."""
    mesh = parallel.make_mesh(mc.get("mesh_shape") or None)
    model = build_model(mc.model, dict(mc.model_kwargs))
    s = _pipeline.Setup(
        config=mc,
        model=model,
        tx=train.make_optimizer(mc, max(int(mc.num_steps), 1)),
        train_data=train_data,
        test_data=heldout,
        mesh=mesh,
        preprocess=_pipeline.make_preprocess(mc, info),
        sample_batch=data.batch_at(train_data, 0, mc.batch_size, seed=mc.seed),
        info=info,
    )
    if int(mc.num_steps) > 0:
        state = classification.train_model(s, workdir, train.MetricWriter(workdir))
    else:
        state = _pipeline.init_state(s)
    variables = jax.device_get(train.state_variables(state))
    return model, variables


def build_pool(config, info, train_data, heldout, evaluation, workdir) -> list[dict[str, Any]]:
    """Trains/loads/derives every member and caches its logits; one dict per member."""
    pool: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}
    for raw in config.members:
        spec = dict(raw)
        name = spec.get("name")
        if not name or name in by_name:
            raise ValueError(f"Every member needs a unique name; got {name!r}.")
        mc = _member_config(config, spec)
        if spec.get("base"):
            if spec["base"] not in by_name:
                raise ValueError(
                    f"Member {name!r}: base {spec['base']!r} must be an earlier member; "
                    f"have {list(by_name)}."
                )
            base = by_name[spec["base"]]
            model, variables, mc = base["model"], base["variables"], base["config"]
        else:
            mdir = os.path.join(workdir, "members", name)
            model, variables = _train_member(mc, info, train_data, heldout, mdir)
        bits = int(spec.get("quant_bits") or 0)
        if bits:
            params, _ = quant.quantize_weights(variables["params"], bits)
            variables = {**variables, "params": params}
        preprocess = _pipeline.make_preprocess(mc, info)
        apply = model.apply
        if spec.get("resolution"):
            apply = cascade.at_resolution(apply, int(spec["resolution"]))

        def apply_fn(v, x, train=False, _apply=apply, _pre=preprocess):
            return _apply(v, _pre({"image": x}, None)["image"], train=train)

        member = dict(name=name, model=model, config=mc, variables=variables, apply_fn=apply_fn)
        member.update(_cached_logits(config, member, heldout, evaluation, workdir))
        log.info(
            "member %s: %.2f%% held-out, %.2f%% eval, %.3g FLOPs",
            name,
            100 * np.mean(member["heldout_logits"].argmax(-1) == heldout["label"]),
            100 * np.mean(member["eval_logits"].argmax(-1) == evaluation["label"]),
            member["flops"],
        )
        pool.append(member)
        by_name[name] = member
    return pool


def _cached_logits(config, member, heldout, evaluation, workdir) -> dict[str, Any]:
    path = os.path.join(workdir, "logits", f"{member['name']}.npz")
    if os.path.exists(path):
        with np.load(path) as f:
            return {k: f[k] for k in ("heldout_logits", "eval_logits")} | {
                "flops": float(f["flops"])
            }
    bs = config.eval_batch_size
    out = {
        "heldout_logits": cascade.compute_logits(
            member["apply_fn"], member["variables"], heldout["image"], batch_size=bs
        ),
        "eval_logits": cascade.compute_logits(
            member["apply_fn"], member["variables"], evaluation["image"], batch_size=bs
        ),
        "flops": float(
            cascade.member_flops(member["apply_fn"], member["variables"], heldout["image"][:1])
        ),
    }
    if jax.process_index() == 0:  # every process computes the logits; one writes the cache
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, **out)
        os.replace(tmp, path)
    return out
