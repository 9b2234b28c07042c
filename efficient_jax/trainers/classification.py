"""Supervised classification: any registered model on digits, CIFAR-10 or GLUE.

Config fields: see ``configs/classification_digits.py``. Writes ``workdir/{metrics.jsonl,
config.json, results.json, checkpoints/}`` and resumes from the latest checkpoint.
"""

from __future__ import annotations

import logging

import ml_collections

from efficient_jax import cost, train
from efficient_jax.trainers import _pipeline

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
    metrics = _pipeline.make_evaluator(s)(train.state_variables(state))
    results = {
        "test_accuracy": metrics["accuracy"],
        "test_loss": metrics["loss"],
        "num_params": cost.count_params(state["params"]),
        "steps": int(state["step"]),
    }
    writer.write_results(results)
    log.info("results: %s", results)
    return state
