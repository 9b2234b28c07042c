"""Adaptive splitting on a model: which ternary matrices to split under a size budget.

The model-level side of :mod:`~efficient_jax.binarybert._adaptive` (Bai 2021, §5.2.3): the
packed size of a split model (:func:`split_model_bytes`), the extra bytes that splitting each
matrix adds (:func:`split_costs`) and each matrix's sensitivity, measured on the half-width binary
model by keeping one part type / layer / other matrix in float (:func:`split_sensitivities`).
:func:`~efficient_jax.binarybert.select_splits` then solves the knapsack.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import get_model
    >>> from efficient_jax.qat import prepare, preset_rules
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (4, 8))
    >>> qat, ternary = prepare(model, model.init(jax.random.key(1), x), preset_rules("twn_a8"), [x])
    >>> split_costs(qat, ternary)  # a 1-bit half: rows packed to whole bytes, + scale, zero point
    {'Dense_0': 24, 'head': 24}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from efficient_jax import cost
from efficient_jax.binarybert._adaptive import bert_module_group, sensitivity_scores
from efficient_jax.binarybert._model import (
    SPLIT,
    SplitBinaryModel,
    export_split,
    ternary_layers,
    tws_split_model,
)
from efficient_jax.qat import QuantizedModel, tree_get


def split_model_bytes(split_vars: Mapping[str, Any], model: SplitBinaryModel) -> int:
    """Packed bytes of a split model's weights: ``params`` plus the second halves (``split``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.models import get_model
        >>> from efficient_jax.qat import prepare, preset_rules
        >>> model = get_model("mlp", features=(16,), num_classes=3)
        >>> x = jax.random.normal(jax.random.key(0), (4, 8))
        >>> v = model.init(jax.random.key(1), x)
        >>> qat, ternary = prepare(model, v, preset_rules("twn_a8"), [x])
        >>> split_model_bytes(*tws_split_model(qat, ternary, select=[]))  # no layer split
        124
    """
    packed, _ = export_split(split_vars, model)
    return cost.model_bytes_from_tree(packed["params"]) + cost.model_bytes_from_tree(packed[SPLIT])


def split_costs(
    qat_params: Mapping[str, Any], qmodel: QuantizedModel, names: Iterable[str] | None = None
) -> dict[str, int]:
    """Extra packed bytes of splitting each ternary layer alone, over the unsplit binary model.

    Args:
      qat_params, qmodel: the ternary model (as for :func:`tws_split_model`).
      names: the layers to cost (default every ternary layer).
    """
    names = ternary_layers(qmodel) if names is None else list(names)
    base = split_model_bytes(*tws_split_model(qat_params, qmodel, select=[]))
    return {
        n: split_model_bytes(*tws_split_model(qat_params, qmodel, select=[n])) - base for n in names
    }


def split_sensitivities(
    qat_params: Mapping[str, Any],
    qmodel: QuantizedModel,
    loss: Callable[[Callable[..., Any], Mapping[str, Any]], float],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per-matrix sensitivities of a ternary tiny BERT (§5.2.3), and the gains behind them.

    The ternary model becomes binary without splitting; for each part type (``MHA-QK``, ...),
    each encoder layer and each matrix outside the encoder, the gain is the loss decrease when
    that group alone is kept in float, and :func:`sensitivity_scores` normalises the gains by the
    groups' parameter counts.

    Args:
      qat_params, qmodel: the ternary model (as for :func:`tws_split_model`).
      loss: ``loss(forward, variables) -> float`` on held-out data, e.g. the mean cross-entropy
        of ``forward(variables, x)``.

    Returns:
      ``(sensitivity per matrix, gain per group)``.
    """
    names = ternary_layers(qmodel)
    bin_vars, bin_model = tws_split_model(qat_params, qmodel, select=[])
    base = loss(bin_model, bin_vars)
    params = bin_vars["params"]
    groups: dict[str, list[str]] = {}
    for n in names:
        part, layer = bert_module_group(n)
        groups.setdefault(part, []).append(n)
        if layer is not None:
            groups.setdefault(f"layer_{layer}", []).append(n)
    by_name = {spec.name: spec for spec in bin_model.layers.values()}
    gains, sizes = {}, {}
    for g, members in groups.items():
        layers = {
            p: dataclasses.replace(sp, rule=dataclasses.replace(sp.rule, weight=None))
            if sp.name in members
            else sp
            for p, sp in bin_model.layers.items()
        }
        gains[g] = base - loss(dataclasses.replace(bin_model, layers=layers), bin_vars)
        sizes[g] = sum(
            int(np.prod(tree_get(params, by_name[m].path)[by_name[m].weight_name].shape))
            for m in members
        )
    return sensitivity_scores(gains, sizes, names), gains
