"""Train state, step factories, the training loop, metrics, progress and checkpoints."""

from efficient_jax.train._checkpoint import Checkpointer
from efficient_jax.train._finetune import finetune
from efficient_jax.train._loop import PREEMPTED_EXIT_CODE, NonFiniteLossError, fit
from efficient_jax.train._metrics import (
    CLASSIFICATION_METRICS,
    METRICS,
    REGRESSION_METRICS,
    compute_metrics,
    trivial_baseline,
)
from efficient_jax.train._optim import make_optimizer, make_schedule
from efficient_jax.train._pretrained import calibration_batches, load_float_variables
from efficient_jax.train._progress import Progress
from efficient_jax.train._steps import (
    TASK_TYPES,
    TrainState,
    create_train_state,
    evaluate,
    make_eval_step,
    make_train_step,
    model_inputs,
    softmax_cross_entropy,
    squared_error,
    state_variables,
)
from efficient_jax.train._writer import MetricWriter, read_metrics, write_json_atomic

__all__ = [
    "CLASSIFICATION_METRICS",
    "METRICS",
    "PREEMPTED_EXIT_CODE",
    "REGRESSION_METRICS",
    "TASK_TYPES",
    "Checkpointer",
    "MetricWriter",
    "NonFiniteLossError",
    "Progress",
    "TrainState",
    "calibration_batches",
    "compute_metrics",
    "create_train_state",
    "evaluate",
    "finetune",
    "fit",
    "load_float_variables",
    "make_eval_step",
    "make_optimizer",
    "make_schedule",
    "make_train_step",
    "model_inputs",
    "read_metrics",
    "softmax_cross_entropy",
    "squared_error",
    "state_variables",
    "trivial_baseline",
    "write_json_atomic",
]
