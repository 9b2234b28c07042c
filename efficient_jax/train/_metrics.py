"""Task metrics on whole evaluation sets (scikit-learn / SciPy), and the trivial baseline.

A metric is ``fn(labels, predictions) -> float`` over host arrays: class ids for classification
metrics, real numbers for regression ones (:data:`METRICS`). :func:`trivial_baseline` scores the
predictor that ignores its input (the train split's majority class, or its mean target), so a
result can be read against "learned nothing".

Example:
    >>> import numpy as np
    >>> labels, preds = np.array([1, 0, 1, 1]), np.array([1, 0, 0, 1])
    >>> compute_metrics(("f1", "accuracy"), labels, preds)
    {'f1': 0.8, 'accuracy': 0.75}
    >>> trivial_baseline(("accuracy",), train_labels=np.array([1, 1, 0]), eval_labels=labels)
    {'majority_accuracy': 0.75}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from efficient_jax.train._steps import TASK_TYPES


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction of predicted class ids equal to the labels."""
    from sklearn import metrics

    return float(metrics.accuracy_score(labels, predictions))


def f1(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Binary F1 of the positive class 1 (MRPC, QQP); 0 when nothing is predicted positive."""
    from sklearn import metrics

    return float(metrics.f1_score(labels, predictions, pos_label=1, zero_division=0.0))


def matthews_corrcoef(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Matthews correlation in [-1, 1] (CoLA); 0 for a constant prediction."""
    from sklearn import metrics

    return float(metrics.matthews_corrcoef(labels, predictions))


def _correlation(kind: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def fn(labels: np.ndarray, predictions: np.ndarray) -> float:
        from scipy import stats

        labels, predictions = np.asarray(labels, np.float64), np.asarray(predictions, np.float64)
        if len(labels) < 2 or np.ptp(labels) == 0 or np.ptp(predictions) == 0:
            return float("nan")  # undefined for a constant input
        test = stats.pearsonr if kind == "pearson" else stats.spearmanr
        return float(test(labels, predictions).statistic)

    fn.__name__ = kind
    fn.__doc__ = f"{kind.capitalize()} correlation (STS-B); NaN when either input is constant."
    return fn


pearson = _correlation("pearson")
spearman = _correlation("spearman")


def mse(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Mean squared error of real-valued predictions."""
    diff = np.asarray(predictions, np.float64) - np.asarray(labels, np.float64)
    return float(np.mean(np.square(diff)))


# Metric name -> fn(labels, predictions) -> float.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_corrcoef": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
    "mse": mse,
}
# Metrics of class ids, and of real-valued predictions.
CLASSIFICATION_METRICS = ("accuracy", "f1", "matthews_corrcoef")
REGRESSION_METRICS = ("pearson", "spearman", "mse")


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ValueError(f"Unknown metric(s) {unknown or names}; valid: {list(METRICS)}.")
    return names


def compute_metrics(
    names: Sequence[str], labels: np.ndarray, predictions: np.ndarray
) -> dict[str, float]:
    """Computes the named metrics of ``predictions`` against ``labels``.

    Args:
      names: names of :data:`METRICS` (e.g. a task's ``data.GLUE_METRICS[task]``).
      labels: ``(N,)`` true class ids or real targets.
      predictions: ``(N,)`` predicted class ids or real values.

    Returns:
      ``{name: value}`` in the order of ``names`` (NaN where a correlation is undefined).

    Raises:
      ValueError: for an unknown metric name, or arrays that are not ``(N,)`` of one length.

    Example:
        >>> import numpy as np
        >>> m = compute_metrics(["pearson", "mse"], np.array([0.0, 1, 2]), np.array([0.0, 1, 3]))
        >>> round(m["pearson"], 4), round(m["mse"], 4)
        (0.982, 0.3333)
    """
    names = _check_names(names)
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.ndim != 1 or labels.shape != predictions.shape or not len(labels):
        raise ValueError(
            f"labels and predictions must be non-empty (N,) arrays of one length; got shapes "
            f"{labels.shape} and {predictions.shape}."
        )
    return {name: METRICS[name](labels, predictions) for name in names}


def trivial_baseline(
    names: Sequence[str],
    *,
    train_labels: np.ndarray,
    eval_labels: np.ndarray,
    task_type: str = "classification",
) -> dict[str, float]:
    """Scores of the input-blind predictor fitted on the train labels, on the eval labels.

    Classification: always the train split's most frequent class (ties: the smaller id), scored
    by the classification metrics among ``names`` (accuracy if none); keys ``majority_<metric>``.
    Regression: always the train mean, scored by MSE only (correlations are undefined for a
    constant prediction); key ``train_mean_mse``. A model that does not beat these learned
    nothing from its inputs.

    Args:
      names: metric names of :data:`METRICS`.
      train_labels: the train split's labels (class ids, or real targets).
      eval_labels: the evaluation split's labels.
      task_type: ``"classification"`` or ``"regression"``.

    Returns:
      ``{"majority_<name>": value}`` or ``{"train_mean_<name>": value}``.

    Raises:
      ValueError: for an unknown task type or metric, or empty label arrays.

    Example:
        >>> import numpy as np
        >>> trivial_baseline(["pearson", "mse"], train_labels=np.array([1.0, 3.0]),
        ...                  eval_labels=np.array([1.0, 2.0]), task_type="regression")
        {'train_mean_mse': 0.5}
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type must be one of {list(TASK_TYPES)}; got {task_type!r}.")
    names = _check_names(names)
    train_labels, eval_labels = np.asarray(train_labels), np.asarray(eval_labels)
    if not train_labels.size or not eval_labels.size:
        raise ValueError("trivial_baseline needs non-empty train and eval labels.")
    if task_type == "classification":
        constant, prefix = np.bincount(train_labels.astype(np.int64).ravel()).argmax(), "majority"
        names = [n for n in names if n in CLASSIFICATION_METRICS] or ["accuracy"]
    else:
        constant, prefix, names = np.mean(train_labels, dtype=np.float64), "train_mean", ["mse"]
    predictions = np.full(eval_labels.shape, constant)
    return {f"{prefix}_{n}": METRICS[n](eval_labels, predictions) for n in names}
