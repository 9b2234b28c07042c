"""Optimizers and learning-rate schedules from config fields.

Example:
    >>> import ml_collections
    >>> c = ml_collections.ConfigDict(dict(optimizer="sgd", learning_rate=0.1, momentum=0.9,
    ...     weight_decay=5e-4, schedule="cosine", warmup_steps=0))
    >>> tx = make_optimizer(c, num_steps=100)
"""

from __future__ import annotations

from typing import Any

import optax

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "linear")


def make_schedule(
    name: str, learning_rate: float, num_steps: int, warmup_steps: int = 0
) -> optax.Schedule:
    """``constant``, ``cosine`` (to 0) or ``linear`` (to 0) decay after a linear warm-up."""
    if name not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; valid: {SCHEDULES}.")
    if learning_rate <= 0 or num_steps <= 0 or not 0 <= warmup_steps < num_steps:
        raise ValueError(
            f"Need learning_rate > 0, num_steps > 0 and 0 <= warmup_steps < num_steps; got "
            f"{learning_rate}, {num_steps}, {warmup_steps}."
        )
    decay_steps = num_steps - warmup_steps
    main = {
        "constant": optax.constant_schedule(learning_rate),
        "cosine": optax.cosine_decay_schedule(learning_rate, decay_steps),
        "linear": optax.linear_schedule(learning_rate, 0.0, decay_steps),
    }[name]
    if not warmup_steps:
        return main
    warmup = optax.linear_schedule(0.0, learning_rate, warmup_steps)
    return optax.join_schedules([warmup, main], [warmup_steps])


def make_optimizer(config: Any, num_steps: int) -> optax.GradientTransformation:
    """Builds the optimizer named by ``config.optimizer`` with ``config.learning_rate`` etc.

    Fields read: ``optimizer``, ``learning_rate``, ``schedule``, ``warmup_steps``, ``momentum``
    (sgd), ``weight_decay`` (sgd: coupled L2; adamw: decoupled), ``grad_clip`` (optional).
    """
    name = config.optimizer
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; valid: {OPTIMIZERS}.")
    lr = make_schedule(
        config.get("schedule", "cosine"),
        config.learning_rate,
        num_steps,
        config.get("warmup_steps", 0),
    )
    wd = config.get("weight_decay", 0.0)
    if name == "sgd":
        parts = [optax.add_decayed_weights(wd)] if wd else []
        parts.append(optax.sgd(lr, momentum=config.get("momentum", 0.9) or None, nesterov=False))
        tx = optax.chain(*parts)
    elif name == "adam":
        tx = optax.adam(lr)
    else:
        tx = optax.adamw(lr, weight_decay=wd)
    if config.get("grad_clip", 0.0):
        tx = optax.chain(optax.clip_by_global_norm(config.grad_clip), tx)
    return tx
