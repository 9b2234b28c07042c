"""Train state, step factories, the training loop, metrics, progress and checkpoints."""

from efficient_jax.train._checkpoint import Checkpointer
from efficient_jax.train._loop import PREEMPTED_EXIT_CODE, NonFiniteLossError, fit
from efficient_jax.train._optim import make_optimizer, make_schedule
from efficient_jax.train._progress import Progress
from efficient_jax.train._steps import (
    TrainState,
    create_train_state,
    evaluate,
    make_eval_step,
    make_train_step,
    model_inputs,
    softmax_cross_entropy,
    state_variables,
)
from efficient_jax.train._writer import MetricWriter, read_metrics, write_json_atomic

__all__ = [
    "PREEMPTED_EXIT_CODE",
    "Checkpointer",
    "MetricWriter",
    "NonFiniteLossError",
    "Progress",
    "TrainState",
    "create_train_state",
    "evaluate",
    "fit",
    "make_eval_step",
    "make_optimizer",
    "make_schedule",
    "make_train_step",
    "model_inputs",
    "read_metrics",
    "softmax_cross_entropy",
    "state_variables",
    "write_json_atomic",
]
