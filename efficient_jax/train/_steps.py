"""Train state as a plain dict pytree, and jit-able train/eval step factories for classifiers
and (``task_type="regression"``: a 1-output head, squared-error loss) regressors.

The state is ``{"params", "batch_stats", "opt", "step"}`` (``batch_stats`` is ``{}`` for models
without BatchNorm). Randomness (dropout) is ``fold_in(key(seed), step)``, so a run is a
deterministic
function of its seed and resumes bit-exactly.

Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> from efficient_jax.models import MLP
    >>> model = MLP(features=(8,), num_classes=3)
    >>> tx = optax.sgd(0.1)
    >>> state = create_train_state(model, tx, jnp.zeros((1, 4)), key=jax.random.key(0))
    >>> step = jax.jit(make_train_step(model, tx, seed=0))
    >>> batch = {"image": jnp.ones((2, 4)), "label": jnp.array([0, 2])}
    >>> state, metrics = step(state, batch)
    >>> int(state["step"])
    1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from efficient_jax.types import ApplyFn, Batch, PyTree

TrainState = dict[str, Any]
LossFn = Callable[[jax.Array, jax.Array], jax.Array]
TASK_TYPES = ("classification", "regression")


def model_inputs(batch: Batch) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Splits a batch into the model's positional and keyword inputs.

    Image batches carry ``"image"``; text batches carry ``"input_ids"`` plus optional
    ``"attention_mask"``/``"token_type_ids"``.

    Raises:
      ValueError: if the batch has neither ``image`` nor ``input_ids``.
    """
    if "image" in batch:
        return (batch["image"],), {}
    if "input_ids" in batch:
        kwargs = {k: batch[k] for k in ("attention_mask", "token_type_ids") if k in batch}
        return (batch["input_ids"],), kwargs
    raise ValueError(f"A batch needs an 'image' or 'input_ids' entry; got keys {sorted(batch)}.")


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example cross-entropy with integer labels."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def squared_error(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-example squared error of a 1-output regression head: ``(outputs[:, 0] - targets)**2``.

    Raises:
      ValueError: if ``outputs`` is not ``(N, 1)`` (e.g. a classifier's 2-logit head).

    Example:
        >>> import jax.numpy as jnp
        >>> squared_error(jnp.array([[1.0], [3.0]]), jnp.array([2.0, 3.0])).tolist()
        [1.0, 0.0]
    """
    if outputs.ndim != 2 or outputs.shape[-1] != 1:
        raise ValueError(
            f"A regression task needs a 1-output head, outputs of shape (N, 1); got "
            f"{outputs.shape}. Set the model's num_classes to 1."
        )
    return jnp.square(outputs[:, 0] - targets.astype(outputs.dtype))


def _task_loss(task_type: str, loss_fn: LossFn | None) -> LossFn:
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {list(TASK_TYPES)}; got {task_type!r}.")
    if loss_fn is not None:
        return loss_fn
    return softmax_cross_entropy if task_type == "classification" else squared_error


def create_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    sample_input: Any,
    *,
    key: jax.Array,
    params: PyTree | None = None,
    batch_stats: PyTree | None = None,
    **model_kwargs: Any,
) -> TrainState:
    """Initialises ``{"params", "batch_stats", "opt", "step"}`` for ``model``.

    Args:
      model: a Linen module called as ``model.apply(variables, x, train=...)``.
      tx: the optimizer (any optax transform, including the library's wrappers).
      sample_input: an input batch of the right shape (values unused).
      key: init key.
      params: start from these params instead of a fresh init (``batch_stats`` likewise).
      **model_kwargs: extra keyword inputs for ``init`` (e.g. ``attention_mask``).
    """
    variables = jax.jit(lambda k: model.init(k, sample_input, train=False, **model_kwargs))(key)
    for name, given in (("params", params), ("batch_stats", batch_stats)):
        if given is not None:
            _check_same_shapes(name, variables.get(name, {}), given)
    params = variables["params"] if params is None else params
    if batch_stats is None:
        batch_stats = variables.get("batch_stats", {})
    return {
        "params": params,
        "batch_stats": batch_stats,
        "opt": tx.init(params),
        "step": jnp.zeros((), jnp.int32),
    }


def _check_same_shapes(name: str, expected: PyTree, given: PyTree) -> None:
    shapes = lambda t: jax.tree.map(lambda x: tuple(jnp.shape(x)), t)  # noqa: E731
    if jax.tree.structure(expected) != jax.tree.structure(given) or shapes(expected) != shapes(
        given
    ):
        raise ValueError(
            f"The given {name} do not match the model: expected shapes {shapes(expected)}, "
            f"got {shapes(given)}."
        )


def _variables(state: TrainState, params: PyTree | None = None) -> dict[str, Any]:
    variables = {"params": state["params"] if params is None else params}
    if state.get("batch_stats"):
        variables["batch_stats"] = state["batch_stats"]
    return variables


def _apply_fn(model: nn.Module | ApplyFn) -> ApplyFn:
    return model.apply if hasattr(model, "apply") else model


def make_train_step(
    model: nn.Module | ApplyFn,
    tx: optax.GradientTransformation,
    *,
    seed: int,
    loss_fn: LossFn | None = None,
    batch_loss_fn: Callable[[jax.Array, Batch], jax.Array] | None = None,
    task_type: str = "classification",
) -> Callable[[TrainState, Batch], tuple[TrainState, dict[str, jax.Array]]]:
    """Builds ``train_step(state, batch) -> (state, metrics)`` (not jitted: the caller jits it
    with its shardings and ``donate_argnums=(0,)``).

    ``model`` is a Linen module or any ``apply(variables, *inputs, train, rngs, mutable, **kw)``
    function with the same contract (e.g. a quantized model's apply). ``batch_loss_fn(logits,
    batch) -> scalar`` replaces the mean of ``loss_fn`` when the loss needs more than the labels
    (e.g. distillation from teacher logits carried in the batch).

    The loss is the mean over the (global) batch, so under a data-sharded batch the gradient is the
    all-reduced mean automatically. ``tx.update`` receives ``params`` (needed by pruning and
    k-means wrappers).

    ``task_type="classification"`` (default): ``loss_fn`` defaults to
    :func:`softmax_cross_entropy` and the metrics are ``loss``, ``accuracy``, ``grad_norm``.
    ``task_type="regression"``: float labels, a 1-output head, ``loss_fn`` defaults to
    :func:`squared_error` (MSE loss) and the metrics are ``loss``, ``grad_norm``.

    Raises:
      ValueError: for an unknown ``task_type``.
    """
    loss_fn = _task_loss(task_type, loss_fn)
    base_key = jax.random.key(seed)
    apply = _apply_fn(model)

    def train_step(state: TrainState, batch: Batch):
        args, kwargs = model_inputs(batch)
        dropout_key = jax.random.fold_in(base_key, state["step"])
        has_bn = bool(state.get("batch_stats"))

        def loss_of(params):
            out = apply(
                _variables(state, params),
                *args,
                train=True,
                rngs={"dropout": dropout_key},
                mutable=["batch_stats"] if has_bn else False,
                **kwargs,
            )
            logits, updates = out if has_bn else (out, {})
            if batch_loss_fn is None:
                loss = jnp.mean(loss_fn(logits, batch["label"]))
            else:
                loss = batch_loss_fn(logits, batch)
            return loss, (logits, updates)

        (loss, (logits, updates)), grads = jax.value_and_grad(loss_of, has_aux=True)(
            state["params"]
        )
        upd, opt = tx.update(grads, state["opt"], state["params"])
        new_state = {
            "params": optax.apply_updates(state["params"], upd),
            "batch_stats": updates.get("batch_stats", state["batch_stats"]),
            "opt": opt,
            "step": state["step"] + 1,
        }
        metrics = {"loss": loss}
        if task_type == "classification":
            metrics["accuracy"] = jnp.mean(jnp.argmax(logits, -1) == batch["label"])
        metrics["grad_norm"] = optax.tree.norm(grads)
        return new_state, metrics

    return train_step


def make_eval_step(
    model: nn.Module | ApplyFn,
    loss_fn: LossFn | None = None,
    *,
    task_type: str = "classification",
) -> Callable[[Mapping[str, Any], Batch], dict[str, jax.Array]]:
    """Builds ``eval_step(variables, batch) -> sums`` of ``correct``, ``loss`` and ``count``.

    ``batch["mask"]`` (1 real, 0 padding) lets padded last batches reuse the same compilation.
    ``task_type="regression"``: no ``correct``, and ``loss_fn`` defaults to :func:`squared_error`
    (as in :func:`make_train_step`).

    Raises:
      ValueError: for an unknown ``task_type``.
    """
    loss_fn = _task_loss(task_type, loss_fn)
    apply = _apply_fn(model)

    def eval_step(variables: Mapping[str, Any], batch: Batch) -> dict[str, jax.Array]:
        args, kwargs = model_inputs(batch)
        logits = apply(variables, *args, train=False, **kwargs)
        mask = batch.get("mask", jnp.ones(logits.shape[0], jnp.float32))
        sums = {}
        if task_type == "classification":
            correct = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
            sums["correct"] = jnp.sum(correct * mask)
        sums["loss"] = jnp.sum(loss_fn(logits, batch["label"]) * mask)
        sums["count"] = jnp.sum(mask)
        return sums

    return eval_step


def evaluate(
    eval_step: Callable[[Mapping[str, Any], Batch], dict[str, jax.Array]],
    variables: Mapping[str, Any],
    batches: Any,
) -> dict[str, float]:
    """Runs a (jitted) ``eval_step`` over ``batches``; returns ``accuracy`` and mean ``loss``
    (``loss`` only for a regression step, whose sums have no ``correct``).

    Raises:
      ValueError: if ``batches`` is empty.
    """
    totals = None
    for batch in batches:
        sums = eval_step(variables, batch)
        totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
    if totals is None:
        raise ValueError("evaluate() got no batches; the evaluation split is empty.")
    count = float(totals["count"])
    out = {"accuracy": float(totals["correct"]) / count} if "correct" in totals else {}
    out["loss"] = float(totals["loss"]) / count
    return out


def state_variables(state: TrainState) -> dict[str, Any]:
    """The ``{"params", "batch_stats"?}`` variables of a train state, ready for ``model.apply``."""
    return _variables(state)
