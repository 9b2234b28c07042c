"""What a classification or regression run reports: the dataset's metrics and a trivial baseline.

Wiring for the trainers (``classification``): which metrics a dataset gets (GLUE's own, Pearson /
Spearman for regression, accuracy otherwise), the model's outputs on a split, and
``results.json``'s ``test_<metric>`` / ``majority_<metric>`` keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from efficient_jax import data, train
from efficient_jax.trainers._pipeline import Setup, task_type


def metric_names(info: data.DatasetInfo | None) -> tuple[str, ...]:
    """Names of ``train.METRICS`` to report for a dataset, headline first.

    GLUE tasks (``"sst2"``, ``"glue/<task>"``): ``data.GLUE_METRICS[task]``; other regression
    datasets: Pearson, Spearman and MSE; other classification datasets: accuracy.

    Example:
        >>> info = data.DatasetInfo("glue/cola", "text", (64,), 2, None, None, "validation")
        >>> metric_names(info)
        ('matthews_corrcoef', 'accuracy')
    """
    name = info.name if info is not None else ""
    task = name.removeprefix("glue/")
    if (name == "sst2" or name.startswith("glue/")) and task in data.GLUE_METRICS:
        return data.GLUE_METRICS[task]
    if task_type(info) == "regression":
        return train.REGRESSION_METRICS
    return ("accuracy",)


def make_predictor(
    s: Setup,
    split: dict[str, np.ndarray] | None = None,
    apply_fn: Callable[..., Any] | None = None,
) -> Callable[[Any], np.ndarray]:
    """``variables -> outputs``: the model's ``(N, C)`` outputs on the test split (or ``split``),
    in example order (padding dropped); ``apply_fn`` as for :func:`make_evaluator`."""
    apply = s.model.apply if apply_fn is None else apply_fn

    def forward(variables, batch):
        args, kwargs = train.model_inputs(s.preprocess(batch, None))
        return apply(variables, *args, train=False, **kwargs)

    jitted = jax.jit(forward)
    split = s.test_data if split is None else split

    def run(variables) -> np.ndarray:
        outs = []
        for batch in data.eval_batches(split, s.config.eval_batch_size, mesh=s.mesh):
            real = np.asarray(jax.device_get(batch["mask"])) > 0
            outs.append(np.asarray(jax.device_get(jitted(variables, batch)))[real])
        return np.concatenate(outs)

    return run


def task_results(
    s: Setup, variables: Any, apply_fn: Callable[..., Any] | None = None
) -> dict[str, float]:
    """The dataset's metrics on the test split and the input-blind baseline's, for results.json.

    Keys: ``test_<metric>`` for each of :func:`metric_names` (argmax class ids for
    classification, the single output for regression), and ``majority_<metric>`` (the train
    split's most frequent class) or ``train_mean_mse`` (always predicting the train mean) from
    ``train.trivial_baseline``: a model that does not beat it learned nothing.
    """
    names, kind = metric_names(s.info), task_type(s.info)
    outputs = make_predictor(s, apply_fn=apply_fn)(variables)
    predictions = outputs[:, 0] if kind == "regression" else np.argmax(outputs, -1)
    labels = np.asarray(s.test_data["label"])
    results = {f"test_{k}": v for k, v in train.compute_metrics(names, labels, predictions).items()}
    baseline = train.trivial_baseline(
        names, train_labels=s.train_data["label"], eval_labels=labels, task_type=kind
    )
    return {**results, **baseline}
