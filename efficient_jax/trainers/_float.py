"""Trainer wiring of the float model a compression trainer starts from (qat, mrem, binarybert).

The logic is :func:`efficient_jax.train.load_float_variables` and
:func:`efficient_jax.train.calibration_batches`; this module supplies what only trainers know: how
a config becomes a train state (:func:`_pipeline.setup`/:func:`_pipeline.init_state`) and how a
float model is trained (:func:`~efficient_jax.trainers.classification.train_model`).
"""

from __future__ import annotations

from typing import Any

import ml_collections

from efficient_jax import train
from efficient_jax.trainers import _pipeline


def _train_float(fconfig: ml_collections.ConfigDict, directory: str) -> train.TrainState:
    from efficient_jax.trainers.classification import train_model

    fsetup = _pipeline.setup(fconfig)
    return train_model(fsetup, directory, train.MetricWriter(directory))


def float_variables(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """The float model: ``init_from_pytorch`` > ``float_workdir`` > trained here for
    ``float_steps`` steps (in ``workdir/float``, resumable)."""
    return train.load_float_variables(
        config,
        workdir,
        state_template=lambda fconfig: _pipeline.init_state(_pipeline.setup(fconfig)),
        train_fn=_train_float,
    )


def calibration_batches(s: _pipeline.Setup, n: int) -> list[dict[str, Any]]:
    """``n`` preprocessed training batches (shuffled with seed ``config.seed + 7``)."""
    return train.calibration_batches(
        s.train_data, n, s.config.batch_size, seed=s.config.seed + 7, preprocess=s.preprocess
    )
