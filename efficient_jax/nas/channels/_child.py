"""Training of a searched APS child network, and the uniform-width baseline's starting point.

The child of ``choices`` inherits the candidate kernels ``W1 P_a`` / ``Q_aᵀ W2``
(:func:`extract_child`) and is trained with SGD (momentum 0.9, cosine decay, weight decay) on
randomly cropped and flipped CIFAR batches, then evaluated (thesis §6.5: the searched widths are
trained with the default recipe). The train state is a dict pytree checkpointed through hooks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from efficient_jax import data, train
from efficient_jax.nas.channels._search import (
    APSSpace,
    extract_child,
    init_aps_transforms,
    init_from_pretrained,
)

log = logging.getLogger("efficient_jax")


def train_child(
    space: APSSpace,
    params: Mapping[str, Any],
    transforms,
    choices: Sequence[int],
    train_split: Mapping[str, np.ndarray],
    test_split: Mapping[str, np.ndarray],
    *,
    steps: int,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    eval_batch_size: int,
    seed: int = 0,
    checkpoint_every: int = 1000,
    restore_fn: Callable[[dict], tuple[dict, int | None]] | None = None,
    checkpoint_fn: Callable[[int, dict], Any] | None = None,
    tag: str = "child",
    mean: Sequence[float] = data.CIFAR10_MEAN,
    std: Sequence[float] = data.CIFAR10_STD,
) -> float:
    """Trains the child network of ``choices`` for ``steps`` steps; returns its test accuracy.

    Args:
      space, params, transforms, choices: the searched supernet and the widths to extract.
      train_split, test_split: ``{"image" uint8 (N, H, W, 3), "label"}``.
      steps, learning_rate, weight_decay, batch_size: SGD with cosine decay from
        ``learning_rate``; batches are ``data.batch_at(train_split, step, batch_size,
        seed=seed + 3)``, augmented by ``data.augment_cifar`` keyed by ``seed + 7`` and the step.
      eval_batch_size: batch size of the test pass.
      seed: the run's seed.
      checkpoint_every, restore_fn, checkpoint_fn: resume hooks as in :func:`run_search`; the
        state is ``{"params", "batch_stats", "opt", "step"}``.
      tag: name used in the log lines.
      mean, std: per-channel statistics the images are normalised with (default: CIFAR-10's).

    Example:
        >>> import jax, numpy as np
        >>> from efficient_jax.nas.channels import init_supernet, make_space, train_child
        >>> rng = np.random.default_rng(0)
        >>> split = {"image": rng.integers(0, 256, (8, 8, 8, 3), np.uint8),
        ...          "label": rng.integers(0, 10, 8)}
        >>> space = make_space((0.5, 1.0), 8)
        >>> key = jax.random.key(0)
        >>> params, tr = init_supernet(space, "ordinal", key=key, input_shape=(8, 8, 3))
        >>> acc = train_child(space, params, tr, (0, 1, 0), split, split, steps=1,
        ...                   learning_rate=0.01, weight_decay=0.0, batch_size=4, eval_batch_size=8)
        >>> 0.0 <= acc <= 1.0
        True
    """
    model, variables = extract_child(params, transforms, choices, space)

    def _prep(images):
        return data.normalize_images(jnp.asarray(images), mean, std)

    sched = optax.cosine_decay_schedule(learning_rate, max(steps, 1))
    tx = optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(sched, 0.9))
    state = {
        "params": variables["params"],
        "batch_stats": variables["batch_stats"],
        "opt": tx.init(variables["params"]),
        "step": jnp.zeros((), jnp.int32),
    }
    start = None
    if restore_fn is not None:
        state, start = restore_fn(state)
    if start is not None:
        log.info("%s: resuming the child's training after step %d of %d", tag, start, steps)
    every = max(int(checkpoint_every), 1)
    step_fn = jax.jit(train.make_train_step(model, tx, seed=seed))
    aug_key = jax.random.key(seed + 7)
    for step in range(start or 0, steps):
        b = data.batch_at(train_split, step, batch_size, seed=seed + 3)
        img = data.augment_cifar(jax.random.fold_in(aug_key, step), jnp.asarray(b["image"]))
        state, _ = step_fn(state, {"image": _prep(img), "label": jnp.asarray(b["label"])})
        if checkpoint_fn is not None and ((step + 1) % every == 0 or step + 1 == steps):
            checkpoint_fn(step + 1, state)
    eval_step = jax.jit(train.make_eval_step(model))
    tot = {"correct": 0.0, "count": 0.0}
    for b in data.eval_batches(test_split, eval_batch_size):
        out = eval_step(
            {"params": state["params"], "batch_stats": state["batch_stats"]},
            {**b, "image": _prep(b["image"])},
        )
        tot["correct"] += float(out["correct"])
        tot["count"] += float(out["count"])
    log.info("%s: test accuracy %.4f", tag, tot["correct"] / tot["count"])
    return tot["correct"] / tot["count"]


def init_supernet(
    space: APSSpace,
    strategy: str,
    *,
    key: jax.Array,
    pretrained: Mapping[str, Any] | None = None,
    noise: float = 1e-2,
    input_shape: tuple[int, ...] = (32, 32, 3),
) -> tuple[dict[str, Any], list[dict[str, jax.Array]]]:
    """``(params, transforms)`` of a fresh APS supernet for ``strategy`` (optionally starting
    every candidate from ``pretrained`` CIFAR ResNet params).

    With a space of one candidate per block and ``"ordinal"``, the params are those of a uniform
    network of those widths (the uniform-width baseline).

    Example:
        >>> import jax
        >>> from efficient_jax.nas.channels import APSSpace, init_supernet
        >>> space = APSSpace(((8,), (16,), (32,)), depth=8)
        >>> key = jax.random.key(0)
        >>> params, tr = init_supernet(space, "ordinal", key=key, input_shape=(8, 8, 3))
        >>> len(tr), sorted(tr[0])
        (3, ['p', 'q'])
    """
    transforms = init_aps_transforms(space, strategy, key=key, noise=noise)
    params = space.model().init(
        key, jnp.zeros((2, *input_shape)), jnp.zeros(space.num_blocks, jnp.int32), transforms
    )["params"]
    if pretrained is not None:
        params = init_from_pretrained(params, pretrained, space, transforms)
    return params, transforms
