"""The float model a compression run starts from, and its calibration batches.

A post-training or quantization-aware run needs float variables: a converted PyTorch checkpoint
(``config.init_from_pytorch``), a finished float run's workdir (``config.float_workdir``: its
``config.json`` and latest checkpoint), or a float model trained in this run (``float_steps``
steps in ``workdir/float``, resumable). How a config becomes a model, optimizer and data is the
caller's (its ``state_template`` and ``train_fn``), so this module depends on no trainer.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from efficient_jax import data, models
from efficient_jax.train._checkpoint import Checkpointer
from efficient_jax.train._steps import state_variables
from efficient_jax.types import Batch, PyTree


def _expand_data_dir(config: ml_collections.ConfigDict, path: str) -> str:
    if "{data_dir}" in path:
        root = data.resolve_data_dir(config.get("data_dir") or None)
        path = path.replace("{data_dir}", str(root))
    return path


def load_float_variables(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    state_template: Callable[[ml_collections.ConfigDict], PyTree],
    train_fn: Callable[[ml_collections.ConfigDict, str], PyTree],
) -> dict[str, Any]:
    """The float model's variables: ``init_from_pytorch`` > ``float_workdir`` > trained here.

    Args:
      config: reads ``init_from_pytorch`` (a CIFAR ResNet ``.npz``/``.th`` path, ``{data_dir}``
        expanded with ``config.data_dir``), ``float_workdir`` and ``float_steps``.
      workdir: this run's directory; a float model trained here lives in ``workdir/float``.
      state_template: ``float_config -> initial train state``, the restore template for the
        checkpoint of ``float_workdir`` (``float_config`` is that run's ``config.json``).
      train_fn: ``(float_config, directory) -> train state``: trains (resuming in
        ``directory``) with ``float_config`` = ``config`` with ``num_steps = float_steps``.

    Returns:
      ``{"params", "batch_stats"?}`` (host arrays, except for a PyTorch checkpoint).

    Raises:
      FileNotFoundError: if ``float_workdir`` has no ``config.json`` or no checkpoint.
      ValueError: if no source is configured.

    Example:
        >>> import ml_collections, jax.numpy as jnp
        >>> from efficient_jax import train
        >>> config = ml_collections.ConfigDict({"float_steps": 5, "num_steps": 300})
        >>> def train_fn(cfg, directory):
        ...     return {"params": {"w": jnp.full(2, cfg.num_steps)}, "step": cfg.num_steps}
        >>> v = train.load_float_variables(config, "/tmp/run", state_template=None,
        ...                                train_fn=train_fn)
        >>> v["params"]["w"].tolist()
        [5, 5]
    """
    if config.get("init_from_pytorch"):
        _, variables = models.load_pytorch_resnet(
            _expand_data_dir(config, config.init_from_pytorch)
        )
        return variables
    if config.get("float_workdir"):
        fdir = pathlib.Path(config.float_workdir)
        cfg_file = fdir / "config.json"
        if not cfg_file.exists():
            raise FileNotFoundError(
                f"float_workdir {fdir} has no config.json; run the float config there first."
            )
        fconfig = ml_collections.ConfigDict(json.loads(cfg_file.read_text()))
        template = state_template(fconfig)
        ckpt = Checkpointer(fdir / "checkpoints")
        state, step = ckpt.maybe_restore(template)
        ckpt.close()
        if step is None:
            raise FileNotFoundError(f"No checkpoint in {fdir / 'checkpoints'} to start from.")
        return jax.device_get(state_variables(state))
    if not config.get("float_steps"):
        raise ValueError("No float model: set init_from_pytorch, float_workdir or float_steps > 0.")
    fconfig = ml_collections.ConfigDict(config.to_dict())
    fconfig.num_steps = config.float_steps
    state = train_fn(fconfig, f"{workdir}/float")
    return jax.device_get(state_variables(state))


def calibration_batches(
    train_data: Mapping[str, np.ndarray],
    num_batches: int,
    batch_size: int,
    *,
    seed: int,
    preprocess: Callable[[Batch, Any], Batch] | None = None,
) -> list[Batch]:
    """The first ``num_batches`` shuffled batches of ``train_data`` on device, preprocessed.

    Batch ``i`` is ``data.batch_at(train_data, i, batch_size, seed=seed)``, then
    ``preprocess(batch, None)`` (evaluation mode: no augmentation) if given.

    Raises:
      ValueError: if ``num_batches`` is not positive (or for a bad batch size).

    Example:
        >>> import numpy as np
        >>> from efficient_jax import train
        >>> ds = {"image": np.arange(10.0)[:, None], "label": np.arange(10)}
        >>> batches = train.calibration_batches(ds, 2, 4, seed=7)
        >>> len(batches), batches[0]["image"].shape
        (2, (4, 1))
    """
    if num_batches <= 0:
        raise ValueError(f"num_batches (config.calib_batches) must be positive; got {num_batches}.")
    out: list[Batch] = []
    for i in range(num_batches):
        host = data.batch_at(train_data, i, batch_size, seed=seed)
        batch = jax.tree.map(jnp.asarray, host)
        out.append(preprocess(batch, None) if preprocess is not None else batch)
    return out
