"""A short full-batch fine-tune: ``steps`` optimizer steps on one batch, in one compiled loop.

The compressors' recovery step (after pruning, weight sharing, quantization or ternary weight
splitting): the model runs on one (calibration) batch with ``train=False`` (BatchNorm statistics
and other non-trainable collections frozen), and ``steps`` updates of ``tx`` run inside one
``jax.jit`` as a ``jax.lax.fori_loop``. The loss is the labels' cross-entropy, or any
``loss_fn(logits, batch)`` (e.g. distillation from a teacher's logits).

Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> from efficient_jax.models import MLP
    >>> model = MLP(features=(8,), num_classes=2)
    >>> batch = {"image": jax.random.normal(jax.random.key(0), (16, 4)),
    ...          "label": jnp.arange(16) % 2}
    >>> variables = model.init(jax.random.key(1), batch["image"])
    >>> tuned = finetune(model.apply, variables, batch, tx=optax.adam(1e-2), steps=20)
    >>> loss = lambda v: optax.softmax_cross_entropy_with_integer_labels(
    ...     model.apply(v, batch["image"]), batch["label"]).mean()
    >>> bool(loss(tuned) < loss(variables))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import optax

from efficient_jax.train._steps import model_inputs
from efficient_jax.types import ApplyFn, Batch


def label_cross_entropy(logits: jax.Array, batch: Batch) -> jax.Array:
    """Mean softmax cross-entropy of ``logits`` against ``batch["label"]`` (integer labels)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()


def finetune(
    apply_fn: ApplyFn,
    variables: Mapping[str, Any],
    batch: Batch,
    *,
    tx: optax.GradientTransformation,
    steps: int,
    loss_fn: Callable[[jax.Array, Batch], jax.Array] | None = None,
    trainable: str | Sequence[str] = "params",
    opt_state: optax.OptState | None = None,
) -> dict[str, Any]:
    """Fine-tunes ``variables`` on one batch: ``steps`` full-batch updates of ``tx``.

    Each step is ``grads = grad(loss)(t)``, ``updates, opt = tx.update(grads, opt, t)``,
    ``t = optax.apply_updates(t, updates)``; all steps run in one ``jax.jit`` (a
    ``jax.lax.fori_loop``), with the batch and anything ``loss_fn`` closes over as constants.

    Args:
      apply_fn: ``apply_fn(variables, *inputs, train=False, **kwargs) -> logits`` (a Flax
        ``model.apply``, or a fake-quantized forward such as a ``QuantizedModel``).
      variables: the model's variables (collections).
      batch: one batch (``"image"`` or ``"input_ids"`` plus masks, see
        :func:`~efficient_jax.train.model_inputs`; ``"label"`` for the default loss).
      tx: the optimizer (e.g. ``optax.adam(1e-3)``, or a wrapper such as a pruning-mask or
        k-means-regulariser transform).
      steps: number of updates (a positive int).
      loss_fn: ``loss_fn(logits, batch) -> scalar``; default :func:`label_cross_entropy`.
      trainable: the collection ``tx`` trains, passed to it alone (``"params"``: the bare params
        tree, as mask- or path-keyed wrappers expect), or a sequence of collections, trained
        together as one dict ``{name: collection}`` (e.g. ``("params", "quant")``). The other
        collections are used unchanged.
      opt_state: the initial optimizer state, when it must be built outside the compiled loop
        (e.g. a random or expensive ``init``); default ``tx.init`` inside it.

    Returns:
      ``variables`` with the trainable collections replaced by their fine-tuned values.

    Raises:
      ValueError: ``steps`` not a positive int, trainable collections missing from
        ``variables``, or the default loss on a batch without ``"label"``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"finetune: steps must be a positive int; got {steps!r}.")
    names = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    missing = [k for k in names if k not in variables]
    if not names or missing:
        raise ValueError(
            f"finetune: trainable collections {missing or names!r} are not in variables, which "
            f"has {sorted(variables)}."
        )
    if loss_fn is None:
        if "label" not in batch:
            raise ValueError(
                f"finetune: the default loss needs batch['label']; got keys {sorted(batch)}. "
                "Pass loss_fn (e.g. distillation from teacher logits)."
            )
        loss_fn = label_cross_entropy
    args, kwargs = model_inputs(batch)
    fixed = {k: v for k, v in variables.items() if k not in names}
    as_vars = (lambda t: {trainable: t}) if isinstance(trainable, str) else (lambda t: t)

    def objective(t: Any) -> jax.Array:
        logits = apply_fn({**fixed, **as_vars(t)}, *args, train=False, **kwargs)
        return loss_fn(logits, batch)

    def body(_, carry):
        t, opt = carry
        updates, opt = tx.update(jax.grad(objective)(t), opt, t)
        return optax.apply_updates(t, updates), opt

    if isinstance(trainable, str):
        start = variables[trainable]
    else:
        start = {k: variables[k] for k in names}
    if opt_state is None:
        run = jax.jit(lambda t: jax.lax.fori_loop(0, steps, body, (t, tx.init(t)))[0])
        trained = run(start)
    else:
        run = jax.jit(lambda t, opt: jax.lax.fori_loop(0, steps, body, (t, opt))[0])
        trained = run(start, opt_state)
    return {**variables, **as_vars(trained)}
