"""Shared trainer plumbing: datasets from config, on-device preprocessing, mesh and state setup,
task-aware (classification / regression) steps and metrics.

A dataset whose ``info.num_classes`` is 1 (GLUE STS-B) is a regression task: the steps use a
squared-error loss on a 1-output head (:func:`task_type`). Metrics on the evaluation split follow
the dataset (``_task.metric_names``: GLUE tasks their official ones, e.g. Matthews correlation for
CoLA, F1 and accuracy for MRPC), next to the input-blind baseline (:func:`task_results`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from efficient_jax import cost, data, models, parallel, train
from efficient_jax.types import Batch

log = logging.getLogger("efficient_jax")


@dataclasses.dataclass
class Setup:
    """Everything a classification-style trainer needs, built once from the config."""

    config: ml_collections.ConfigDict
    model: nn.Module
    tx: optax.GradientTransformation
    train_data: dict[str, np.ndarray]
    test_data: dict[str, np.ndarray]
    mesh: jax.sharding.Mesh
    preprocess: Callable[[Batch, jax.Array | None], Batch]
    sample_batch: Batch
    info: data.DatasetInfo | None = None  # the dataset's metadata (``data.load(...).info``)


def make_preprocess(
    config: ml_collections.ConfigDict, info: data.DatasetInfo
) -> Callable[[Batch, Any], Batch]:
    """On-device preprocessing: uint8 images → (augmented) floats normalised with ``info``'s
    statistics (:func:`efficient_jax.data.normalize`); float images and text pass through.

    ``key=None`` means evaluation (no augmentation).
    """
    augment = bool(config.get("augment", False))

    def preprocess(batch: Batch, key: jax.Array | None) -> Batch:
        if "image" not in batch or batch["image"].dtype != jnp.uint8:
            return batch
        images = batch["image"]
        if augment and key is not None:
            images = data.augment_cifar(key, images)
        return {**batch, "image": data.normalize(images, info)}

    return preprocess


def resolve_path(config: ml_collections.ConfigDict, path: str) -> str:
    """Expands ``{data_dir}`` in a config path to the resolved data directory."""
    if "{data_dir}" in path:
        path = path.replace(
            "{data_dir}", str(data.resolve_data_dir(config.get("data_dir") or None))
        )
    return path


# Config field -> option of the dataset's loader, passed when the loader takes that option.
_CONFIG_OPTIONS = (
    ("data_seed", "seed"),
    ("test_fraction", "test_fraction"),
    ("max_length", "max_length"),
    ("num_train", "num_train"),
    ("num_test", "num_test"),
)


def dataset_options(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The options of ``data.load(config.dataset, ...)`` that the config sets.

    Fields ``data_seed`` (as ``seed``), ``test_fraction``, ``max_length``, ``num_train`` and
    ``num_test`` go to a loader that takes them; text datasets default to ``max_length=64``;
    ``config.dataset_options`` (or, for the synthetic mixture, ``config.mixture``) adds more.
    """
    accepted = data.dataset_options(config.dataset)
    options = {
        option: config[field]
        for field, option in _CONFIG_OPTIONS
        if field in config and (accepted is None or option in accepted)
    }
    if accepted is not None and "max_length" in accepted:
        options.setdefault("max_length", 64)
    if config.dataset == "gaussian_mixture":
        options.update(dict(config.get("mixture") or {}))
    options.update(dict(config.get("dataset_options") or {}))
    return options


def load_dataset(config: ml_collections.ConfigDict) -> data.Dataset:
    """``data.load(config.dataset)`` with ``config.data_dir`` and :func:`dataset_options`."""
    return data.load(
        config.dataset, data_dir=config.get("data_dir") or None, **dataset_options(config)
    )


def load_data(
    config: ml_collections.ConfigDict, dataset: data.Dataset | None = None
) -> tuple[dict, dict]:
    """The train and evaluation splits of ``config.dataset`` (or of ``dataset``), limited.

    ``config.train_limit`` / ``test_limit`` keep a fixed random subset (seeded by
    ``config.seed``): the files are ordered by class, so a prefix would be one class.
    """
    ds = load_dataset(config) if dataset is None else dataset
    limited = []
    for split, field in ((ds.train_data, "train_limit"), (ds.eval_data, "test_limit")):
        n = config.get(field)
        n_total = len(next(iter(split.values())))
        limited.append(data.batch_at(split, 0, n, seed=config.seed) if n and n < n_total else split)
    return limited[0], limited[1]


def setup(config: ml_collections.ConfigDict) -> Setup:
    """Builds model, optimizer, data and mesh from ``config`` (validating batch sizes first)."""
    mesh = parallel.make_mesh(config.get("mesh_shape") or None)
    n_data = mesh.shape[parallel.DATA_AXIS]
    for field in ("batch_size", "eval_batch_size"):
        value = config.get(field)
        if value is None or value <= 0 or value % n_data:
            raise ValueError(
                f"config.{field}={value} must be a positive multiple of the {n_data} devices on "
                "the 'data' mesh axis."
            )
    dataset = load_dataset(config)
    train_data, test_data = load_data(config, dataset)
    model_kwargs = dict(config.get("model_kwargs") or {})
    model = models.get_model(config.model, **model_kwargs)
    # num_steps == 0 is valid for trainers that only evaluate (e.g. post-training quantization).
    tx = train.make_optimizer(config, config.num_steps) if config.num_steps else optax.identity()
    sample = data.batch_at(train_data, 0, config.batch_size, seed=config.seed)
    preprocess = make_preprocess(config, dataset.info)
    return Setup(config, model, tx, train_data, test_data, mesh, preprocess, sample, dataset.info)


def task_type(info: data.DatasetInfo | None) -> str:
    """``"regression"`` for a dataset with one output (``info.num_classes == 1``, e.g. STS-B),
    else (also without ``info``) ``"classification"``.

    Example:
        >>> info = data.DatasetInfo("glue/stsb", "text", (64,), 1, None, None, "validation")
        >>> task_type(info), task_type(None)
        ('regression', 'classification')
    """
    return "regression" if info is not None and info.num_classes == 1 else "classification"


def init_state(s: Setup) -> train.TrainState:
    """Initialises the train state replicated on the mesh."""
    batch = s.preprocess(jax.tree.map(jnp.asarray, s.sample_batch), None)
    args, kwargs = train.model_inputs(batch)
    pretrained: dict[str, Any] = {}
    if s.config.get("init_from_pytorch"):
        _, variables = models.load_pytorch_resnet(
            resolve_path(s.config, s.config.init_from_pytorch)
        )
        pretrained = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
        log.info("initialised from %s", s.config.init_from_pytorch)
    state = train.create_train_state(
        s.model,
        s.tx,
        args[0][:1],
        key=jax.random.key(s.config.seed),
        **pretrained,
        **_first(kwargs),
    )
    n_params = cost.count_params(state["params"])
    log.info("model %s: %s parameters", s.config.model, f"{n_params:,}")
    return parallel.replicate(state, s.mesh)


def _first(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v[:1] for k, v in kwargs.items()}


def jit_train_step(s: Setup) -> Callable[[train.TrainState, Batch], Any]:
    """The jitted, data-parallel train step with preprocessing (augmentation keyed by step)."""
    step = train.make_train_step(s.model, s.tx, seed=s.config.seed, task_type=task_type(s.info))
    aug_key = jax.random.key(s.config.seed + 1)

    def step_with_preprocess(state, batch):
        return step(state, s.preprocess(batch, jax.random.fold_in(aug_key, state["step"])))

    return parallel.data_parallel_step(step_with_preprocess, s.mesh)


def batch_fn(s: Setup) -> Callable[[int], Batch]:
    """``step -> batch`` on the mesh, a deterministic function of the seed and step."""

    def fn(step: int) -> Batch:
        host = data.batch_at(s.train_data, step, s.config.batch_size, seed=s.config.seed)
        return parallel.shard_batch(host, s.mesh)

    return fn


def make_evaluator(
    s: Setup,
    split: dict[str, np.ndarray] | None = None,
    apply_fn: Callable[..., Any] | None = None,
):
    """``variables -> {"accuracy", "loss"}`` on the test split (or ``split``); a regression
    task's (:func:`task_type`) has ``loss`` (the MSE) only.

    ``apply_fn(variables, *args, train=False, **kwargs)`` replaces ``s.model.apply`` (e.g. a
    compressor's serving forward).
    """
    eval_step = train.make_eval_step(
        s.model if apply_fn is None else apply_fn, task_type=task_type(s.info)
    )
    jitted = jax.jit(lambda v, b: eval_step(v, s.preprocess(b, None)))
    split = s.test_data if split is None else split

    def run(variables) -> dict[str, float]:
        batches = data.eval_batches(split, s.config.eval_batch_size, mesh=s.mesh)
        return train.evaluate(jitted, variables, batches)

    return run
