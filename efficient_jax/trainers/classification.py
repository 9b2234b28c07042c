"""Supervised classification (and regression): any registered model on any registered dataset.

``config.dataset`` is a name of ``data.available_datasets()`` (digits, MNIST, CIFAR-10, GLUE, ...),
loaded by ``data.load`` (see ``_pipeline.load_dataset``); models train on its ``train_split`` and
report on its ``eval_split``, with uint8 images normalised by the dataset's own statistics.
A dataset with ``info.num_classes == 1`` (GLUE STS-B) is a regression: MSE loss, 1-output head.
Config fields: see ``configs/classification_digits.py``, ``configs/tiny_bert_glue.py``. Writes
``workdir/{metrics.jsonl, config.json, results.json, checkpoints/}`` and resumes from the latest
checkpoint.

``results.json``: ``test_accuracy`` (classification) and ``test_loss`` (the MSE for regression),
``num_params``, ``steps``; the dataset's metrics ``test_<metric>`` (GLUE: Matthews correlation for
CoLA, F1 and accuracy for MRPC, accuracy for SST-2/RTE, Pearson, Spearman and MSE for STS-B); and
the input-blind baseline, ``majority_<metric>`` (always the train split's most frequent class) or
``train_mean_mse`` (always the train mean).
"""

from __future__ import annotations

import logging

import ml_collections

from efficient_jax import cost, train
from efficient_jax.trainers import _pipeline, _task

log = logging.getLogger("efficient_jax")


def train_model(s: _pipeline.Setup, workdir: str, writer: train.MetricWriter) -> train.TrainState:
    """Trains ``s.model`` for ``config.num_steps`` steps, resuming from ``workdir/checkpoints``."""
    config = s.config
    state = _pipeline.init_state(s)
    checkpointer = train.Checkpointer(
        f"{workdir}/checkpoints", max_to_keep=config.get("max_checkpoints", 2)
    )
    state, resumed = checkpointer.maybe_restore(state)
    if resumed is not None:
        log.info("Resumed from step %d in %s", resumed, checkpointer.directory)
    evaluator = _pipeline.make_evaluator(s)
    try:
        state = train.fit(
            _pipeline.jit_train_step(s),
            state,
            _pipeline.batch_fn(s),
            num_steps=config.num_steps,
            writer=writer,
            checkpointer=checkpointer,
            log_every=config.log_every,
            checkpoint_every=config.get("checkpoint_every") or None,
            eval_fn=lambda st: evaluator(train.state_variables(st)),
            eval_every=config.get("eval_every") or None,
        )
    finally:
        checkpointer.close()
    return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> train.TrainState:
    """Trains and evaluates a classifier; returns the final train state."""
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    state = train_model(s, workdir, writer)
    variables = train.state_variables(state)
    metrics = _pipeline.make_evaluator(s)(variables)
    results = {f"test_{k}": v for k, v in metrics.items()}  # test_accuracy (if any), test_loss
    results["num_params"] = cost.count_params(state["params"])
    results["steps"] = int(state["step"])
    # Task metrics and baselines add keys only: the evaluator's values above are kept as they are.
    for key, value in _task.task_results(s, variables).items():
        results.setdefault(key, value)
    writer.write_results(results)
    log.info("results: %s", results)
    return state
