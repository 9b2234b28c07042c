"""The APS search loop (Bai thesis §6.4, Algorithm 4) as step functions plus one run function.

Warm-up of the supernet with uniformly sampled widths (transforms fixed), then REINFORCE training
of the controller with the MnasNet reward on a held-out split while the supernet keeps training on
sampled widths and (APS-T only) Φ is annealed by projected gradient descent on ``P``/``Q``
alternately; finally beam search and the candidate closest to the FLOPs target. The search state
is a plain dict pytree (:func:`init_search`), so a caller checkpoints and restores it with any
pytree checkpointer through the ``restore_fn``/``checkpoint_fn`` hooks of :func:`run_search`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from efficient_jax import data
from efficient_jax.nas.channels._child import init_supernet
from efficient_jax.nas.channels._controller import (
    Controller,
    beam_search,
    mnasnet_reward,
    sample_actions,
    sequence_logprob,
)
from efficient_jax.nas.channels._search import (
    APSSpace,
    network_sharing_level,
    pick_architecture,
    within_budget,
)
from efficient_jax.nas.channels._sharing import APS_STRATEGIES, anneal_step, column_mask

log = logging.getLogger("efficient_jax")


@dataclasses.dataclass(frozen=True)
class APSSearchConfig:
    """Settings of one APS search (defaults: thesis Table 6.1, ResNet-20).

    Attributes: ``target_macs`` is the FLOPs budget ``B`` of the reward and of the final pick;
    ``warmup_steps`` + ``search_steps`` supernet steps (SGD momentum 0.9, ``learning_rate`` ×0.1 at
    50% and 75%, weight decay); transforms: projected-GD lr ``transform_lr``, P/Q alternate every
    ``transform_alternate`` steps, init noise ``transform_noise``; controller: LSTM width
    ``controller_hidden``, Adam ``controller_lr``, entropy bonus ``entropy_weight``, one update of
    ``controller_samples`` samples every ``controller_every`` search steps, baseline decay,
    reward ``(reward_alpha, reward_beta)``; final ``beam`` (restricted to prefixes within
    ``(1 + budget_slack) × target`` if ``constrained_beam``). ``seed`` keys everything.
    """

    target_macs: float
    warmup_steps: int = 200
    search_steps: int = 400
    batch_size: int = 256
    val_batch_size: int = 256
    learning_rate: float = 0.1
    weight_decay: float = 2e-4
    transform_lr: float = 1e-3
    transform_alternate: int = 10
    transform_noise: float = 1e-2
    controller_hidden: int = 64
    controller_lr: float = 1.6e-4
    entropy_weight: float = 4e-3
    controller_every: int = 1
    controller_samples: int = 4
    baseline_decay: float = 0.95
    reward_alpha: float = 0.0
    reward_beta: float = -0.1
    beam: int = 5
    constrained_beam: bool = True
    budget_slack: float = 0.02
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 1000

    def __post_init__(self):
        if not self.target_macs > 0:
            raise ValueError(f"target_macs must be > 0, got {self.target_macs}.")
        for name in ("warmup_steps", "search_steps", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name in ("batch_size", "val_batch_size", "transform_alternate", "controller_every",
                     "controller_samples", "beam", "log_every"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.search_steps

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> APSSearchConfig:
        """The fields present in ``values`` (e.g. an ``ml_collections.ConfigDict``); the rest
        keep their defaults. Other keys are ignored."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: values[n] for n in names if n in values})


class SearchSteps(NamedTuple):
    """The models, optimizers and jitted step functions of one search (:func:`make_search_steps`).

    ``weight_step(params, opt, transforms, choices, batch) -> (params, opt, loss, acc)``,
    ``val_accuracy(params, transforms, choices, batch)``,
    ``controller_step(cparams, copt, actions, rewards, baseline) -> (cparams, copt)``,
    ``sample(cparams, key) -> actions``, ``anneal(transforms, side)`` (side ``"p"``/``"q"``).
    """

    model: Any
    weight_tx: optax.GradientTransformation
    controller: Controller
    controller_tx: optax.GradientTransformation
    weight_step: Callable
    val_accuracy: Callable
    controller_step: Callable
    sample: Callable
    anneal: Callable


def _xent(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_search_steps(
    space: APSSpace,
    cfg: APSSearchConfig,
    *,
    mean: Sequence[float] = data.CIFAR10_MEAN,
    std: Sequence[float] = data.CIFAR10_STD,
) -> SearchSteps:
    """Builds the supernet, controller, optimizers and jitted steps. The steps take uint8 images
    and normalise them with the per-channel ``mean``/``std`` (default: CIFAR-10's).

    Example:
        >>> from efficient_jax.nas.channels import APSSearchConfig, make_search_steps, make_space
        >>> steps = make_search_steps(make_space((0.5, 1.0), 8), APSSearchConfig(target_macs=1e6))
        >>> steps.controller.num_layers, steps.controller.num_choices
        (3, 2)
    """
    model = space.model()
    sched = optax.piecewise_constant_schedule(
        cfg.learning_rate, {int(cfg.total_steps * 0.5): 0.1, int(cfg.total_steps * 0.75): 0.1}
    )
    tx = optax.chain(optax.add_decayed_weights(cfg.weight_decay), optax.sgd(sched, 0.9))
    ctrl = Controller(space.num_blocks, space.num_choices, cfg.controller_hidden)
    ctx = optax.adam(cfg.controller_lr)
    masks = [column_mask(w) for w in space.widths]

    def _prep(images):
        return data.normalize_images(jnp.asarray(images), mean, std)

    @jax.jit
    def weight_step(params, opt, transforms, choices, batch):
        def loss(p):
            logits = model.apply({"params": p}, _prep(batch["image"]), choices, transforms)
            return _xent(logits, batch["label"]), logits

        (lv, logits), g = jax.value_and_grad(loss, has_aux=True)(params)
        upd, opt = tx.update(g, opt, params)
        acc = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        return optax.apply_updates(params, upd), opt, lv, acc

    @jax.jit
    def val_accuracy(params, transforms, choices, batch):
        logits = model.apply({"params": params}, _prep(batch["image"]), choices, transforms)
        return jnp.mean(jnp.argmax(logits, -1) == batch["label"])

    @jax.jit
    def controller_step(cparams, copt, actions, rewards, baseline):
        def obj(cp):
            lp, ent = jax.vmap(lambda a: sequence_logprob(ctrl, cp, a))(actions)
            return -jnp.mean(lp * (rewards - baseline)) - cfg.entropy_weight * jnp.mean(ent)

        g = jax.grad(obj)(cparams)
        upd, copt = ctx.update(g, copt, cparams)
        return optax.apply_updates(cparams, upd), copt

    sample = jax.jit(lambda cp, k: sample_actions(ctrl, cp, k))

    @functools.partial(jax.jit, static_argnums=1)
    def anneal(transforms, side):
        return [
            {s: (anneal_step(t[s], m, cfg.transform_lr) if s == side else t[s]) for s in t}
            for t, m in zip(transforms, masks)
        ]

    return SearchSteps(
        model, tx, ctrl, ctx, weight_step, val_accuracy, controller_step, sample, anneal
    )


def init_search(
    space: APSSpace,
    strategy: str,
    cfg: APSSearchConfig,
    *,
    pretrained: Mapping[str, Any] | None = None,
    steps: SearchSteps | None = None,
    input_shape: tuple[int, ...] = (32, 32, 3),
) -> dict[str, Any]:
    """The initial search state: ``params``, ``opt``, ``transforms``, controller ``cparams`` and
    ``copt``, reward ``baseline`` (NaN = none yet) and ``phi_start`` (Φ at the start).

    ``pretrained``: CIFAR ResNet params (:func:`init_from_pretrained`) for every candidate.

    Example:
        >>> from efficient_jax.nas.channels import APSSearchConfig, init_search, make_space
        >>> state = init_search(make_space((0.5, 1.0), 8), "ordinal", APSSearchConfig(1e6))
        >>> sorted(state), float(state["phi_start"])
        (['baseline', 'copt', 'cparams', 'opt', 'params', 'phi_start', 'transforms'], 16384.0)
    """
    if strategy not in APS_STRATEGIES:
        raise ValueError(f"Unknown APS strategy {strategy!r}; valid: {APS_STRATEGIES}.")
    steps = steps or make_search_steps(space, cfg)
    key = jax.random.key(cfg.seed)
    params, transforms = init_supernet(
        space,
        strategy,
        key=key,
        pretrained=pretrained,
        noise=cfg.transform_noise,
        input_shape=input_shape,
    )
    cparams = steps.controller.init(key, jnp.zeros(space.num_blocks, jnp.int32))
    return {
        "params": params,
        "opt": steps.weight_tx.init(params),
        "transforms": transforms,
        "cparams": cparams,
        "copt": steps.controller_tx.init(cparams),
        "baseline": np.asarray(np.nan),
        "phi_start": np.asarray(float(network_sharing_level(transforms, space.depth))),
    }


class SearchResult(NamedTuple):
    """What :func:`run_search` returns: the final search ``state``, the chosen ``choices`` (one
    candidate index per block), their ``macs``, and ``info`` (``phi_start``, ``phi_end``,
    ``search_s``, ``macs``, ``top1_logprob``)."""

    state: dict[str, Any]
    choices: tuple[int, ...]
    macs: int
    info: dict[str, float]


def run_search(
    space: APSSpace,
    strategy: str,
    train_split: Mapping[str, np.ndarray],
    val_split: Mapping[str, np.ndarray],
    cfg: APSSearchConfig,
    *,
    pretrained: Mapping[str, Any] | None = None,
    restore_fn: Callable[[dict], tuple[dict, int | None]] | None = None,
    checkpoint_fn: Callable[[int, dict], Any] | None = None,
    log_fn: Callable[[int, dict], Any] | None = None,
    steps: SearchSteps | None = None,
    mean: Sequence[float] = data.CIFAR10_MEAN,
    std: Sequence[float] = data.CIFAR10_STD,
) -> SearchResult:
    """One APS search (Algorithm 4) for ``strategy`` on uint8 image splits.

    Args:
      space: the width space (:func:`make_space`).
      strategy: ``"ordinal"``, ``"independent"`` or ``"transition"``.
      train_split, val_split: ``{"image" (N, H, W, 3) uint8, "label" (N,)}``; the supernet trains
        on ``train_split``, the controller's reward is the accuracy on ``val_split`` batches.
      cfg: the settings (:class:`APSSearchConfig`).
      pretrained: optional CIFAR ResNet params every candidate starts from.
      restore_fn: ``template -> (state, step or None)``: resumes from a saved state (e.g.
        ``train.Checkpointer.maybe_restore``); ``None`` starts afresh.
      checkpoint_fn: ``(steps_done, state)`` called every ``cfg.checkpoint_every`` steps and at
        the end (e.g. a ``Checkpointer.save``).
      log_fn: ``(step, row)`` called every ``cfg.log_every`` steps and at the last (``row``:
        strategy, loss, train_acc, reward and baseline once the controller trains, phi,
        elapsed_s).
      steps: the compiled steps of an earlier search with the same ``space`` and ``cfg``
        (:func:`make_search_steps`), to skip recompiling them; ``None`` builds them.
      mean, std: per-channel statistics the images are normalised with (default: CIFAR-10's).

    Returns:
      A :class:`SearchResult`; the same for a resumed and an uninterrupted run.

    Example:
        >>> import numpy as np
        >>> from efficient_jax.nas.channels import APSSearchConfig, make_space, run_search
        >>> rng = np.random.default_rng(0)
        >>> split = {"image": rng.integers(0, 256, (8, 8, 8, 3), np.uint8),
        ...          "label": rng.integers(0, 10, 8)}
        >>> space = make_space((0.5, 1.0), 8)
        >>> cfg = APSSearchConfig(space.macs((1, 0, 0)), warmup_steps=2, search_steps=0,
        ...                       batch_size=4, val_batch_size=4, beam=2)
        >>> res = run_search(space, "ordinal", split, split, cfg)  # warm-up only: fast
        >>> len(res.choices), res.macs <= cfg.target_macs * 1.02
        (3, True)
    """
    steps = steps or make_search_steps(space, cfg, mean=mean, std=std)
    state = init_search(
        space,
        strategy,
        cfg,
        pretrained=pretrained,
        steps=steps,
        input_shape=tuple(np.shape(train_split["image"])[1:]),
    )
    total = cfg.total_steps
    start = None
    if restore_fn is not None:
        state, start = restore_fn(state)
    params, opt, transforms = state["params"], state["opt"], state["transforms"]
    cparams, copt, phi0 = state["cparams"], state["copt"], float(state["phi_start"])
    baseline = None if np.isnan(state["baseline"]) else float(state["baseline"])
    if start is not None:
        log.info("APS %s: resuming the search after step %d of %d", strategy, start, total)

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

    key = jax.random.key(cfg.seed)
    every = max(int(cfg.checkpoint_every), 1)
    t0 = time.time()
    for step in range(start or 0, total):
        batch = data.batch_at(train_split, step, cfg.batch_size, seed=cfg.seed)
        if step < cfg.warmup_steps:
            rng = np.random.default_rng([cfg.seed, step])  # stateless: resumable
            choices = jnp.asarray(rng.integers(0, space.num_choices, space.num_blocks), jnp.int32)
        else:
            choices = steps.sample(cparams, jax.random.fold_in(key, step))
        params, opt, loss, acc = steps.weight_step(params, opt, transforms, choices, batch)
        row = {"strategy": strategy, "loss": float(loss), "train_acc": float(acc)}
        if step >= cfg.warmup_steps:
            if strategy == "transition":
                side = "q" if (step // cfg.transform_alternate) % 2 else "p"
                transforms = steps.anneal(transforms, side)
            if (step - cfg.warmup_steps) % cfg.controller_every == 0:
                vb = data.batch_at(val_split, step, cfg.val_batch_size, seed=cfg.seed + 1)
                acts, rewards = [], []
                for j in range(cfg.controller_samples):
                    a = steps.sample(cparams, jax.random.fold_in(key, 10_000_000 + step * 100 + j))
                    va = float(steps.val_accuracy(params, transforms, a, vb))
                    macs = space.macs(np.asarray(a))
                    r = mnasnet_reward(va, macs, cfg.target_macs, cfg.reward_alpha, cfg.reward_beta)
                    acts.append(a)
                    rewards.append(float(r))
                rewards_arr = jnp.asarray(rewards)
                mean_r = float(rewards_arr.mean())
                baseline = (
                    mean_r
                    if baseline is None
                    else (cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * mean_r)
                )
                cparams, copt = steps.controller_step(
                    cparams, copt, jnp.stack(acts), rewards_arr, baseline
                )
                row.update(reward=mean_r, baseline=baseline)
        if log_fn is not None and (step % cfg.log_every == 0 or step == total - 1):
            row["phi"] = float(network_sharing_level(transforms, space.depth))
            row["elapsed_s"] = time.time() - t0
            log_fn(step, row)
        if checkpoint_fn is not None and ((step + 1) % every == 0 or step + 1 == total):
            checkpoint_fn(step + 1, search_state())
    search_s = time.time() - t0
    # Algorithm 4 picks the candidate closest to the target; a beam over prefixes that can still
    # meet it guarantees one exists (the soft reward alone can leave the whole beam over budget).
    feasible = (
        within_budget(space, cfg.target_macs * (1 + cfg.budget_slack))
        if cfg.constrained_beam
        else None
    )
    beams = beam_search(steps.controller, cparams, cfg.beam, feasible=feasible)
    choices, macs = pick_architecture(beams, space, cfg.target_macs)
    info = {
        "phi_start": phi0,
        "phi_end": float(network_sharing_level(transforms, space.depth)),
        "search_s": search_s,
        "macs": float(macs),
        "top1_logprob": float(beams[0][1]),
    }
    return SearchResult(search_state(), choices, macs, info)
