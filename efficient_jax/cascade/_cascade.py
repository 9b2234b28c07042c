"""Ensembles and cascades evaluated from cached logits (Wang 2022, Ch. 5, Algorithm 4).

Everything works on stacked logits ``L: [M, N, C]`` (M models in cascade order, N examples,
C classes) and per-example FLOPs ``F: [M]``; no model is re-run. A cascade runs model 1; if the
confidence of the running mean of the logits so far reaches ``t_1`` the example exits, else
model 2 runs, and so on; the last model always answers. Cost is the *average* FLOPs over the
examples, ``Σ_k exit_fraction_k · Σ_{i≤k} F_i``; the worst case is ``Σ_i F_i``.

**Thresholds.** One per stage but the last (``t_1 … t_{M-1}``), each in ``[0, 1]`` or
``+inf`` (:data:`NEVER_EXIT`): an example exits at stage k when ``confidence ≥ t_k``. So
``t = 0`` always exits, ``t = 1`` exits only on a saturated softmax (float32 can round to exactly
1.0, the thesis's pitfall 1), and ``t = inf`` never exits, which reproduces the full ensemble.
Other values (negative, in ``(1, inf)``, NaN) raise ``ValueError``: they are mistakes, not
settings. Confidence metrics other than ``max_prob`` are mapped into ``[0, 1]`` as well
(``top2_gap`` is ``p₁ - p₂``; ``neg_entropy`` is ``1 - H/log C``), so the same range applies.

Example:
    >>> import jax.numpy as jnp
    >>> logits = jnp.array([[[4.0, 0.0], [0.2, 0.0]], [[0.0, 1.0], [0.0, 3.0]]])  # [M=2, N=2, C=2]
    >>> out = cascade(logits, jnp.array([0.9]), jnp.array([1.0, 10.0]))
    >>> out.exit_stage.tolist(), out.flops.tolist()
    ([0, 1], [1.0, 11.0])

References:
    X. Wang, D. Kondratyuk, E. Christiansen, K. M. Kitani, Y. Alon, E. Eban, "Wisdom of
    Committees: An Overlooked Approach To Faster and More Accurate Models", ICLR 2022,
    https://arxiv.org/abs/2012.01988 (thesis Ch. 5).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

NEVER_EXIT = float("inf")
"""Threshold that never exits early: the cascade then equals the ensemble of all its models."""

METRICS = ("max_prob", "top2_gap", "neg_entropy")
COMBINES = ("logits", "probs", "last")


def _concrete(x) -> np.ndarray | None:
    """The value of ``x`` as NumPy, or None under a trace (checks then happen only eagerly)."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def stack_logits(logits: Sequence[ArrayLike] | ArrayLike) -> jax.Array:
    """Stacks per-model logits ``[N, C]`` into ``[M, N, C]``, checking that they fit together.

    Raises:
      ValueError: if the models disagree on the number of examples or classes, or if any array is
        not 2-D (per model) / 3-D (stacked), or holds NaN/inf (checked when not traced).

    Example:
        >>> stack_logits([jnp.zeros((5, 3)), jnp.ones((5, 3))]).shape
        (2, 5, 3)
    """
    if isinstance(logits, Sequence) and not isinstance(logits, str):
        if len(logits) == 0:
            raise ValueError("Got no models: pass at least one [N, C] logits array.")
        arrays = [jnp.asarray(a) for a in logits]
        for i, a in enumerate(arrays):
            if a.ndim != 2:
                raise ValueError(f"Logits of model {i} must be [N, C]; got shape {a.shape}.")
        shapes = [a.shape for a in arrays]
        if len({s[0] for s in shapes}) > 1:
            raise ValueError(
                f"Logits have different numbers of examples per model: {[s[0] for s in shapes]};"
                " all models must be evaluated on the same examples in the same order."
            )
        if len({s[1] for s in shapes}) > 1:
            raise ValueError(
                f"Logits have different numbers of classes per model: {[s[1] for s in shapes]};"
                " all models must predict the same label set."
            )
        stacked = jnp.stack(arrays)
    else:
        stacked = jnp.asarray(logits)
        if stacked.ndim != 3:
            raise ValueError(f"Stacked logits must be [M, N, C]; got shape {stacked.shape}.")
    if stacked.shape[1] == 0 or stacked.shape[2] < 2:
        raise ValueError(f"Need N >= 1 examples and C >= 2 classes; got shape {stacked.shape}.")
    value = _concrete(stacked)
    if value is not None and not np.all(np.isfinite(value)):
        raise ValueError("Logits contain NaN or inf.")
    return stacked


def _check_flops(flops: ArrayLike, num_models: int) -> jax.Array:
    flops = jnp.asarray(flops, jnp.float32)
    if flops.shape != (num_models,):
        raise ValueError(
            f"flops must have one entry per model, shape ({num_models},); got {flops.shape}."
        )
    value = _concrete(flops)
    if value is not None and (not np.all(np.isfinite(value)) or np.any(value < 0)):
        raise ValueError(f"flops must be finite and >= 0; got {value.tolist()}.")
    return flops


def check_thresholds(thresholds: ArrayLike, num_models: int) -> jax.Array:
    """Validates cascade thresholds: shape ``(..., M-1)``, each in ``[0, 1]`` or ``+inf``.

    Raises:
      ValueError: for a wrong last dimension or a value outside ``[0, 1] ∪ {inf}``.
    """
    t = jnp.asarray(thresholds, jnp.float32)
    if t.ndim < 1 or t.shape[-1] != num_models - 1:
        raise ValueError(
            f"A cascade of {num_models} models takes {num_models - 1} threshold(s) (the last "
            f"model always answers); got shape {t.shape}."
        )
    value = _concrete(t)
    if value is not None:
        ok = ((value >= 0) & (value <= 1)) | (value == np.inf)
        if not np.all(ok):
            raise ValueError(
                f"Thresholds must lie in [0, 1] (exit when confidence >= t) or be inf "
                f"(NEVER_EXIT); got {value.tolist()}."
            )
    return t


def _combine_check(combine: str) -> None:
    if combine not in COMBINES:
        raise ValueError(f"Unknown combine {combine!r}; valid: {COMBINES}.")


def ensemble(logits: Sequence[ArrayLike] | ArrayLike, combine: str = "logits") -> jax.Array:
    """Combines the models' outputs into one score array ``[N, C]`` (argmax = prediction).

    Args:
      logits: ``[M, N, C]`` or a list of ``[N, C]``.
      combine: ``"logits"`` (mean of logits, the thesis default), ``"probs"`` (mean of softmax
        probabilities, returned as their log so that ``softmax`` gives the mean probabilities) or
        ``"last"`` (the last model's logits alone).

    Example:
        >>> ensemble([jnp.array([[2.0, 0.0]]), jnp.array([[0.0, 4.0]])]).tolist()
        [[1.0, 2.0]]
    """
    _combine_check(combine)
    stacked = stack_logits(logits)
    return running_means(stacked, combine)[-1]


def running_means(logits: ArrayLike, combine: str = "logits") -> jax.Array:
    """Scores of every prefix of the models: ``out[k] = combine(models 0..k)``, ``[M, N, C]``.

    ``combine="last"`` keeps each model's own logits (no averaging: a plain early-exit chain, e.g.
    an int4 model whose uncertain examples go to the full-precision one, which then answers
    alone); ``"logits"``/``"probs"`` are the thesis's running means (see :func:`ensemble`).
    """
    _combine_check(combine)
    logits = jnp.asarray(logits, jnp.float32)
    if combine == "last":
        return logits
    counts = jnp.arange(1, logits.shape[0] + 1, dtype=jnp.float32)[:, None, None]
    if combine == "logits":
        return jnp.cumsum(logits, axis=0) / counts
    mean_probs = jnp.cumsum(jax.nn.softmax(logits, axis=-1), axis=0) / counts
    return jnp.log(jnp.maximum(mean_probs, jnp.finfo(jnp.float32).tiny))


def confidence(scores: ArrayLike, metric: str = "max_prob") -> jax.Array:
    """Confidence in ``[0, 1]`` of scores ``[..., C]`` (softmax taken here).

    Args:
      scores: logits (or log-probabilities) ``[..., C]``.
      metric: ``"max_prob"`` (max softmax, the thesis default), ``"top2_gap"`` (difference of the
        two largest probabilities) or ``"neg_entropy"`` (``1 - H(p) / log C``).

    Example:
        >>> confidence(jnp.array([0.0, 0.0])).tolist()
        0.5
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown confidence metric {metric!r}; valid: {METRICS}.")
    p = jax.nn.softmax(jnp.asarray(scores, jnp.float32), axis=-1)
    if metric == "max_prob":
        return jnp.max(p, axis=-1)
    if metric == "top2_gap":
        top2 = jax.lax.top_k(p, 2)[0]
        return top2[..., 0] - top2[..., 1]
    entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)
    return 1.0 - entropy / jnp.log(p.shape[-1])


class StageTable(NamedTuple):
    """Per-stage facts of one ordered cascade, all a threshold search needs.

    Attributes:
      confidence: ``[M, N]`` confidence of the running combination after each stage.
      prediction: ``[M, N]`` int32 prediction after each stage.
      cum_flops: ``[M]`` FLOPs spent when exiting after each stage (cumulative sum).
    """

    confidence: jax.Array
    prediction: jax.Array
    cum_flops: jax.Array


def stage_table(
    logits: Sequence[ArrayLike] | ArrayLike,
    flops: ArrayLike,
    *,
    metric: str = "max_prob",
    combine: str = "logits",
) -> StageTable:
    """Precomputes per-stage confidences, predictions and cumulative FLOPs of a cascade."""
    stacked = stack_logits(logits)
    flops = _check_flops(flops, stacked.shape[0])
    if metric not in METRICS:
        raise ValueError(f"Unknown confidence metric {metric!r}; valid: {METRICS}.")
    _combine_check(combine)
    return _stage_table(stacked, flops, metric, combine)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _stage_table(stacked, flops, metric, combine) -> StageTable:
    scores = running_means(stacked, combine)
    return StageTable(
        confidence(scores, metric),
        jnp.argmax(scores, axis=-1).astype(jnp.int32),
        jnp.cumsum(flops),
    )


def exit_stages(conf: jax.Array, thresholds: jax.Array) -> jax.Array:
    """Stage (0-based) where each example exits: the first k with ``conf[k] >= t[k]``; else last."""
    exits = conf[:-1] >= thresholds[:, None]
    exits = jnp.concatenate([exits, jnp.ones_like(conf[:1], dtype=bool)], axis=0)
    return jnp.argmax(exits, axis=0).astype(jnp.int32)


class CascadeOutput(NamedTuple):
    """Per-example result of a cascade.

    Attributes:
      prediction: ``[N]`` predicted class.
      exit_stage: ``[N]`` 0-based stage where the example exited.
      flops: ``[N]`` FLOPs spent on the example.
    """

    prediction: jax.Array
    exit_stage: jax.Array
    flops: jax.Array


def cascade_from_table(table: StageTable, thresholds: ArrayLike) -> CascadeOutput:
    """:func:`cascade` on a precomputed :class:`StageTable` (cheap; ``vmap`` over thresholds)."""
    t = check_thresholds(thresholds, table.confidence.shape[0])
    stage = exit_stages(table.confidence, t)
    pred = jnp.take_along_axis(table.prediction, stage[None], axis=0)[0]
    return CascadeOutput(pred, stage, table.cum_flops[stage])


def cascade(
    logits: Sequence[ArrayLike] | ArrayLike,
    thresholds: ArrayLike,
    flops: ArrayLike,
    *,
    metric: str = "max_prob",
    combine: str = "logits",
) -> CascadeOutput:
    """Runs Algorithm 4 on cached logits: per-example prediction, exit stage and FLOPs.

    Args:
      logits: ``[M, N, C]`` or a list of ``[N, C]``, in cascade order.
      thresholds: ``[M-1]``, each in ``[0, 1]`` or :data:`NEVER_EXIT`.
      flops: ``[M]`` FLOPs of one example through each model.
      metric: confidence metric (see :func:`confidence`).
      combine: ``"logits"``, ``"probs"`` or ``"last"`` (see :func:`running_means`).

    Raises:
      ValueError: for mismatched logits, thresholds outside ``[0, 1] ∪ {inf}``, wrong shapes.
    """
    return cascade_from_table(
        stage_table(logits, flops, metric=metric, combine=combine), thresholds
    )


def summarize(out: CascadeOutput, labels: ArrayLike, num_stages: int) -> dict[str, jax.Array]:
    """Accuracy, average and per-stage exit statistics of a :class:`CascadeOutput`.

    Returns:
      ``{"accuracy", "avg_flops", "exit_fractions" [M]}``.
    """
    labels = jnp.asarray(labels)
    if labels.shape != out.prediction.shape:
        raise ValueError(
            f"labels must have one entry per example, shape {out.prediction.shape}; got "
            f"{labels.shape}."
        )
    fractions = jnp.mean(jax.nn.one_hot(out.exit_stage, num_stages), axis=0)
    return {
        "accuracy": jnp.mean((out.prediction == labels).astype(jnp.float32)),
        "avg_flops": jnp.mean(out.flops),
        "exit_fractions": fractions,
    }


def cascade_metrics(
    logits: Sequence[ArrayLike] | ArrayLike,
    labels: ArrayLike,
    thresholds: ArrayLike,
    flops: ArrayLike,
    *,
    metric: str = "max_prob",
    combine: str = "logits",
) -> dict[str, jax.Array]:
    """Accuracy, average FLOPs, worst-case FLOPs and exit fractions of one cascade.

    ``thresholds`` may carry leading batch dimensions ``[..., M-1]``: every grid point is then
    evaluated at once (``vmap``), and each metric gains those dimensions.

    Example:
        >>> logits = jnp.array([[[3.0, 0.0], [0.1, 0.0]], [[0.0, 1.0], [0.0, 2.0]]])
        >>> m = cascade_metrics(logits, jnp.array([0, 1]), jnp.array([[0.0], [NEVER_EXIT]]),
        ...                     jnp.array([1.0, 4.0]))
        >>> m["avg_flops"].tolist(), m["accuracy"].tolist()
        ([1.0, 5.0], [0.5, 1.0])
    """
    table = stage_table(logits, flops, metric=metric, combine=combine)
    num = table.confidence.shape[0]
    t = check_thresholds(thresholds, num)

    def one(ti):
        return summarize(cascade_from_table(table, ti), labels, num)

    fn = one
    for _ in range(t.ndim - 1):
        fn = jax.vmap(fn)
    out = fn(t)
    out["worst_flops"] = jnp.broadcast_to(table.cum_flops[-1], t.shape[:-1])
    return out


def expected_flops(exit_fractions: ArrayLike, flops: ArrayLike) -> jax.Array:
    """``Σ_k exit_fraction_k · Σ_{i≤k} FLOPs_i``: the average cost of a cascade.

    Example:
        >>> float(expected_flops(jnp.array([0.75, 0.25]), jnp.array([1.0, 10.0])))
        3.5
    """
    fractions = jnp.asarray(exit_fractions, jnp.float32)
    flops = jnp.asarray(flops, jnp.float32)
    if fractions.shape[-1:] != flops.shape:
        raise ValueError(
            f"exit_fractions [..., M] and flops [M] must agree on M; got {fractions.shape} "
            f"and {flops.shape}."
        )
    return jnp.sum(fractions * jnp.cumsum(flops), axis=-1)


def worst_case_flops(flops: ArrayLike) -> jax.Array:
    """``Σ_i FLOPs_i``: the cost of an example that reaches the last stage."""
    return jnp.sum(jnp.asarray(flops, jnp.float32))
