"""Teacher → student distillation step factories, the distillation train state, two-stage configs.

The step is ``step(state, teacher_variables, batch) -> (state, metrics)``. The teacher runs in
inference mode (``train=False``: no dropout, BatchNorm running statistics) under
``jax.lax.stop_gradient``. Its variables are an argument, not part of the state: the optimizer
never sees them, they are never written back, and the caller can shard or replicate them (and
donate only the state: ``jax.jit(step, donate_argnums=(0,))``). The student state follows
:func:`efficient_jax.train.make_train_step`: ``{"params", "batch_stats", "opt", "step"}``, dropout
key ``fold_in(key(seed), step)``, BatchNorm statistics updated from the training forward pass,
plus optional learned ``"projections"`` (FitNet/TinyBERT regressors) with their own
``"projections_opt"``.

Example:
    >>> import jax, jax.numpy as jnp, optax
    >>> from efficient_jax.models import MLP
    >>> from efficient_jax.train import create_train_state
    >>> teacher, student = MLP(features=(16,), num_classes=3), MLP(features=(4,), num_classes=3)
    >>> x = jnp.ones((2, 5))
    >>> teacher_vars = teacher.init(jax.random.key(1), x)
    >>> tx = optax.sgd(0.1)
    >>> state = create_train_state(student, tx, x, key=jax.random.key(0))
    >>> step = jax.jit(make_distill_step(student, teacher, tx, seed=0, temperature=2.0))
    >>> state, metrics = step(state, teacher_vars, {"image": x, "label": jnp.array([0, 1])})
    >>> int(state["step"]), sorted(metrics)
    (1, ['accuracy', 'grad_norm', 'kd', 'loss', 'teacher_agreement'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from efficient_jax.distill._composite import LOGITS_LOSSES, check_weights, distillation_loss
from efficient_jax.distill._features import ATTENTION_KINDS, Regressor, init_regressor
from efficient_jax.distill._kd import check_temperature
from efficient_jax.distill._taps import model_outputs, supports_aux
from efficient_jax.train import create_train_state, model_inputs, state_variables
from efficient_jax.types import Batch

TrainState = dict[str, Any]
DistillStep = Callable[[TrainState, Mapping[str, Any], Batch], tuple[TrainState, dict[str, Any]]]
LossCallable = Callable[[Mapping[str, Any], Mapping[str, Any], Batch], tuple[jax.Array, dict]]
TERMS = ("logits", "hidden", "attention")


def _parse_loss(loss: str) -> frozenset[str]:
    terms = [t.strip() for t in str(loss).split("+")]
    if not terms or any(t not in TERMS for t in terms) or len(set(terms)) != len(terms):
        raise ValueError(
            f"loss must be a callable or a '+'-joined subset of {TERMS} (e.g. 'logits', "
            f"'hidden+attention'); got {loss!r}."
        )
    return frozenset(terms)


def init_projections(
    key: jax.Array, student_widths: Sequence[int], teacher_widths: Sequence[int]
) -> list[dict[str, jax.Array] | None]:
    """One linear regressor per student hidden state whose width differs from the teacher's.

    Args:
      key: init key (split per regressor).
      student_widths: width of each student hidden state (after the layer map).
      teacher_widths: width of the teacher hidden state each one is compared with.

    Returns:
      A list with ``None`` where the widths agree and :func:`init_regressor` params elsewhere.

    Example:
        >>> import jax
        >>> p = init_projections(jax.random.key(0), [16, 16], [32, 16])
        >>> p[0]["kernel"].shape, p[1]
        ((16, 32), None)
    """
    if len(student_widths) != len(teacher_widths):
        raise ValueError(
            f"Got {len(student_widths)} student widths and {len(teacher_widths)} teacher widths."
        )
    keys = jax.random.split(key, max(len(student_widths), 1))
    return [
        None if ds == dt else init_regressor(k, ds, dt)
        for k, ds, dt in zip(keys, student_widths, teacher_widths, strict=False)
    ]


def create_distill_state(
    student_model: nn.Module,
    tx: optax.GradientTransformation,
    sample_input: Any,
    *,
    key: jax.Array,
    projections: Sequence[Regressor | None] | None = None,
    projection_tx: optax.GradientTransformation | None = None,
    **kwargs: Any,
) -> TrainState:
    """:func:`~efficient_jax.train.create_train_state` plus optional learned projections.

    Args:
      student_model, tx, sample_input, key, **kwargs: as for ``create_train_state`` (``params``,
        ``batch_stats`` and model keyword inputs).
      projections: regressors for hidden-state width mismatches (see :func:`init_projections`);
        stored as ``state["projections"]``.
      projection_tx: their optimizer (default ``tx``); pass the same one to
        :func:`make_distill_step`.
    """
    state = create_train_state(student_model, tx, sample_input, key=key, **kwargs)
    if projections is not None:
        projections = list(projections)
        state["projections"] = projections
        state["projections_opt"] = (projection_tx or tx).init(projections)
    return state


def two_stage_config(stage: int | str, *, temperature: float = 1.0) -> dict[str, Any]:
    """Keyword arguments of :func:`make_distill_step` for one TernaryBERT/BinaryBERT stage.

    * ``1`` / ``"intermediate"``: intermediate-layer distillation, hidden states (embedding output
      included) + pre-softmax attention scores, no logits (Bai 2021, Eq. 5.10; LR 5e-5).
    * ``2`` / ``"prediction"``: prediction-layer distillation, soft cross-entropy on the logits
      (Eq. 5.11; LR 2e-5).
    * ``3`` / ``"split"``: BinaryBERT's split fine-tuning after TWS, logits only as in stage 2,
      with a freshly initialised optimizer (LR 2e-5).

    Example:
        >>> two_stage_config(1)["loss"], two_stage_config("prediction")["loss"]
        ('hidden+attention', 'logits')

    References:
      Zhang et al., "TernaryBERT", EMNLP 2020, https://arxiv.org/abs/2009.12812; Bai et al.,
      "BinaryBERT", ACL 2021, https://arxiv.org/abs/2012.15701; Bai (2021), §5.3, Table 5.1.
    """
    names = {1: 1, "intermediate": 1, 2: 2, "prediction": 2, 3: 3, "split": 3}
    if stage not in names:
        raise ValueError(f"stage must be one of {sorted(map(str, names))}; got {stage!r}.")
    if names[stage] == 1:
        return {
            "loss": "hidden+attention",
            "attention": "scores",
            "hidden_weight": 1.0,
            "attention_weight": 1.0,
        }
    return {"loss": "logits", "temperature": temperature, "alpha": 1.0}


def _teacher_variables(teacher: Mapping[str, Any]) -> Mapping[str, Any]:
    if "params" not in teacher:
        raise ValueError(f"teacher_variables need a 'params' entry; got keys {sorted(teacher)}.")
    return state_variables(teacher) if "opt" in teacher else teacher


def make_distill_step(
    student_model: nn.Module,
    teacher_model: nn.Module,
    tx: optax.GradientTransformation,
    *,
    seed: int,
    loss: str | LossCallable = "logits",
    temperature: float = 1.0,
    alpha: float = 1.0,
    hidden_weight: float = 1.0,
    attention_weight: float = 1.0,
    attention: str = "scores",
    scale_by_t2: bool = True,
    logits_loss: str = "soft_cross_entropy",
    hidden_layer_map: Sequence[int] | None = None,
    attention_layer_map: Sequence[int] | None = None,
    projection_tx: optax.GradientTransformation | None = None,
) -> DistillStep:
    """Builds ``step(state, teacher_variables, batch) -> (state, metrics)`` (not jitted).

    Args:
      student_model: the model being trained (state from ``create_train_state`` or
        :func:`create_distill_state`).
      teacher_model: the teacher; ``teacher_variables`` (``{"params", "batch_stats"?}``, or a
        train state) are passed to every call and only read.
      tx: the student optimizer; ``tx.update`` receives the params.
      seed: dropout key ``fold_in(key(seed), step)``.
      loss: ``'+'``-joined terms out of ``"logits"`` (``alpha``·KD + (1 − ``alpha``)·CE with
        ``batch["label"]``), ``"hidden"`` (hidden-state MSE incl. the embedding output) and
        ``"attention"`` (attention MSE), e.g. ``"hidden+attention"``; or a callable
        ``loss(student_out, teacher_out, batch) -> (loss, aux)`` over output dicts
        ``{"logits", "hidden_states"?, "attentions"?, "projections"?}`` (features are included
        when the models accept ``return_aux``).
      temperature, alpha, scale_by_t2, logits_loss: the logits term (see
        :func:`distillation_loss`).
      hidden_weight, attention_weight: weights of the feature terms when they are selected.
      attention: ``"scores"`` (pre-softmax, as TernaryBERT/BinaryBERT) or ``"probs"``.
      hidden_layer_map, attention_layer_map: student → teacher layer maps.
      projection_tx: optimizer of ``state["projections"]`` (default ``tx``).

    Returns:
      The step; ``metrics`` has ``loss``, each term, ``grad_norm``, ``teacher_agreement``
      (argmax agreement) and ``accuracy`` when the batch has labels.

    Raises:
      ValueError: for an unknown loss or attention kind, bad weights/temperature, or feature
        terms with a model that returns logits only.

    References:
      Hinton et al. 2015; Romero et al., "FitNets", 2015; Zhang et al., "TernaryBERT", 2020;
      Bai (2021), §2.3 (Eqs. 2.12, 2.13) and §5.3 (Eqs. 5.10, 5.11).
    """
    check_temperature(temperature)
    if attention not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {ATTENTION_KINDS}; got {attention!r}.")
    if logits_loss not in LOGITS_LOSSES:
        raise ValueError(f"logits_loss must be one of {LOGITS_LOSSES}; got {logits_loss!r}.")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}.")
    check_weights(hidden_weight=hidden_weight, attention_weight=attention_weight)
    aux_ok = supports_aux(student_model) and supports_aux(teacher_model)
    if callable(loss):
        terms, features = frozenset(), aux_ok
    else:
        terms = _parse_loss(loss)
        features = bool(terms & {"hidden", "attention"})
        if features and not aux_ok:
            raise ValueError(
                f"loss={loss!r} needs hidden states/attentions, but "
                f"{type(student_model).__name__}/{type(teacher_model).__name__} return logits "
                "only (use loss='logits', a callable, or models that accept return_aux)."
            )
    weights = {
        "logits_weight": 1.0 if "logits" in terms else 0.0,
        "hidden_weight": hidden_weight if "hidden" in terms else 0.0,
        "attention_weight": attention_weight if "attention" in terms else 0.0,
    }
    base_key = jax.random.key(seed)

    def step(state: TrainState, teacher_variables: Mapping[str, Any], batch: Batch):
        args, kwargs = model_inputs(batch)
        t_out, _ = model_outputs(
            teacher_model,
            _teacher_variables(teacher_variables),
            args,
            kwargs,
            train=False,
            features=features,
            attention=attention,
        )
        t_out = jax.tree.map(jax.lax.stop_gradient, t_out)
        dropout_key = jax.random.fold_in(base_key, state["step"])
        has_bn = bool(state.get("batch_stats"))

        def loss_of(trainable):
            params, projections = trainable
            variables = {"params": params}
            if has_bn:
                variables["batch_stats"] = state["batch_stats"]
            s_out, mutated = model_outputs(
                student_model,
                variables,
                args,
                kwargs,
                train=True,
                rngs={"dropout": dropout_key},
                features=features,
                attention=attention,
                update_batch_stats=has_bn,
            )
            if callable(loss):
                if projections is not None:
                    s_out["projections"] = projections
                value, aux = loss(s_out, t_out, batch)
            else:
                value, aux = distillation_loss(
                    s_out,
                    t_out,
                    batch.get("label") if alpha < 1.0 else None,
                    alpha=alpha,
                    temperature=temperature,
                    scale_by_t2=scale_by_t2,
                    logits_loss=logits_loss,
                    hidden_layer_map=hidden_layer_map,
                    attention_layer_map=attention_layer_map,
                    attention_kind=attention,
                    attention_mask=kwargs.get("attention_mask"),
                    projections=projections,
                    **weights,
                )
            return value, (s_out["logits"], dict(aux), mutated)

        trainable = (state["params"], state.get("projections"))
        (value, (logits, aux, mutated)), (g_params, g_proj) = jax.value_and_grad(
            loss_of, has_aux=True
        )(trainable)
        upd, opt = tx.update(g_params, state["opt"], state["params"])
        new_state = dict(state)
        new_state.update(
            params=optax.apply_updates(state["params"], upd),
            batch_stats=mutated.get("batch_stats", state["batch_stats"]),
            opt=opt,
            step=state["step"] + 1,
        )
        if "projections" in state:
            p_upd, p_opt = (projection_tx or tx).update(
                g_proj, state["projections_opt"], state["projections"]
            )
            new_state["projections"] = optax.apply_updates(state["projections"], p_upd)
            new_state["projections_opt"] = p_opt
        metrics = {k: v for k, v in aux.items() if k != "loss"}
        metrics["loss"] = value
        metrics["grad_norm"] = optax.tree.norm(g_params)
        prediction = jnp.argmax(logits, -1)
        metrics["teacher_agreement"] = jnp.mean(prediction == jnp.argmax(t_out["logits"], -1))
        if "label" in batch:
            metrics["accuracy"] = jnp.mean(prediction == batch["label"])
        return new_state, metrics

    return step
