"""BinaryBERT at the network level: split a trained ternary model into a binary one, unchanged.

:func:`tws_split_model` takes the QAT variables of a ternary model (``twn`` weight rules, built by
:func:`~efficient_jax.qat.prepare`) and returns the variables of a :class:`SplitBinaryModel`:
every selected ternary matrix ``W`` becomes two latent binary matrices ``W1, W2`` of the same shape
(:func:`~efficient_jax.binarybert.tws_split_weight`, row-wise for ``per_channel`` rules such as the
word embedding) whose outputs are summed, ``y = Q_a(x)·BWN(W1) + Q_a(x)·BWN(W2) + bias``. The
two products share the input quantizer, so the layer runs one matmul with ``BWN(W1) + BWN(W2)``
(exactly equal by linearity). Unselected ternary matrices become plain binary ``BWN(W)``
(adaptive splitting); layers under other rules (8-bit pooler/classifier) are unchanged.

Variables of a split model (``quant``/``quant_stats`` as for :func:`~efficient_jax.qat.prepare`)::

    {"params": <latent weights; W1 for split layers>,
     "split":  {"layer_0": {"attention": {"query": {"kernel": W2}}}, ...},
     "quant": ..., "quant_stats": ...}

Compared with the official code, the two halves keep one bias (instead of ``b/2`` each) and share
one input quantizer (instead of two copies that start equal); both are identical at the split.

Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from efficient_jax.models import get_model
    >>> from efficient_jax.qat import preset_rules, prepare
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (4, 8))
    >>> variables = model.init(jax.random.key(1), x)
    >>> qat, ternary = prepare(model, variables, preset_rules("twn_a8"), [x])
    >>> split, binary = tws_split_model(qat, ternary)
    >>> bool(np.allclose(binary(split, x), ternary(qat, x), atol=1e-5))
    True

References:
  Bai (2021), §5.2 (Eqs. 5.5-5.9) and §5.2.3 (adaptive splitting); BinaryBERT ACL 2021.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.binarybert._tws import tws_split_weight
from efficient_jax.qat import (
    LayerCall,
    LayerSpec,
    QuantizedModel,
    QuantRule,
    fake_quant_weight,
    split_variables,
    tree_get,
    tree_set,
    weight_to_qarray,
)
from efficient_jax.quant import QArray, apply_quantizer, dequantize

SPLIT = "split"  # the collection holding the second latent half of each split matrix


def binary_rule(rule: QuantRule) -> QuantRule:
    """``rule`` with ``twn`` 2-bit weights replaced by ``bwn`` 1-bit (other fields unchanged)."""
    if rule.weight != "twn":
        return rule
    return dataclasses.replace(rule, weight="bwn", weight_bits=1)


def binary_rules(rules: Sequence[QuantRule]) -> list[QuantRule]:
    """:func:`binary_rule` over a rule list (e.g. ``preset_rules("twn_a8")`` → its BWN form)."""
    return [binary_rule(r) for r in rules]


def _bwn(rule: QuantRule, w: jax.Array) -> jax.Array:
    return apply_quantizer("bwn", w, {}, bits=1, **rule.weight_options())


@dataclasses.dataclass(frozen=True, eq=False)
class SplitBinaryModel:
    """A binary (BWN) model, some of whose matrices are sums of two binary matrices.

    Call like ``apply``: ``model(variables, x, train=False)`` (jittable, differentiable through
    the straight-through BWN/activation quantizers to both latent halves).

    Attributes:
      apply_fn: the float model's ``apply``.
      layers: module path -> :class:`LayerSpec` with the binary rules.
      split: the module paths whose weight is ``BWN(W1) + BWN(W2)``.
    """

    apply_fn: Callable[..., Any]
    layers: Mapping[tuple[str, ...], LayerSpec]
    split: frozenset[tuple[str, ...]]

    def effective_weight(self, call: LayerCall, layer_quant: Mapping, second: Mapping) -> jax.Array:
        """The weight a layer runs with: ``BWN(W1) + BWN(W2)`` for a split layer (``W2`` from
        ``second``, the ``split`` collection), else its rule's fake-quantized weight."""
        w = fake_quant_weight(call, layer_quant)
        if call.spec.path in self.split:
            w2 = tree_get(second, call.spec.path)[call.spec.weight_name]
            w = w + _bwn(call.spec.rule, w2)
        return w

    def apply(self, variables: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """The fake-quantized forward: :meth:`~efficient_jax.qat.QuantizedModel.apply` with
        :meth:`effective_weight` as its weight hook."""
        second = variables.get(SPLIT, {})
        qat_params = {k: v for k, v in variables.items() if k != SPLIT}
        qmodel = QuantizedModel(apply_fn=self.apply_fn, rules=(), layers=self.layers)
        weight_fn = lambda call, lq: self.effective_weight(call, lq, second)  # noqa: E731
        return qmodel.apply(qat_params, *args, weight_fn=weight_fn, **kwargs)

    __call__ = apply

    def names(self) -> list[str]:
        """The ``/``-joined paths of the split layers, sorted."""
        return sorted("/".join(p) for p in self.split)


def ternary_layers(qmodel: Any) -> list[str]:
    """Names of the layers of a ternary ``QuantizedModel`` that TWS can split (``twn`` rules)."""
    return sorted(s.name for s in qmodel.layers.values() if s.rule.weight == "twn")


def tws_split_model(
    qat_params: Mapping[str, Any],
    qmodel: Any,
    *,
    select: Iterable[str] | None = None,
) -> tuple[dict[str, Any], SplitBinaryModel]:
    """Ternary weight splitting of a whole model: ``(split_variables, SplitBinaryModel)``.

    Args:
      qat_params: QAT variables of the ternary model (``params``, ``quant``, ``quant_stats``).
      qmodel: its :class:`~efficient_jax.qat.QuantizedModel` (rules with ``weight="twn"``).
      select: layer names (``/``-joined module paths, see :func:`ternary_layers`) to split;
        ``None`` splits every ternary layer (full TWS). The other ternary layers become binary
        without splitting.

    Returns:
      Variables whose split-model output equals the ternary model's (up to float32 rounding of
      ``α1 + α2``; the split itself runs in float64) and the model.

    Raises:
      ValueError: no ternary layer, unknown names in ``select``, or a matrix TWS cannot split
        (see :func:`~efficient_jax.binarybert.tws_split_weight`).
    """
    ternary = {s.name: s for s in qmodel.layers.values() if s.rule.weight == "twn"}
    if not ternary:
        raise ValueError("tws_split_model: the model has no 'twn' layer to split.")
    chosen = set(ternary) if select is None else set(select)
    unknown = sorted(chosen - set(ternary))
    if unknown:
        raise ValueError(f"Cannot split {unknown}: not ternary layers; ternary: {sorted(ternary)}.")
    model_vars, quant, stats = split_variables(qat_params)
    params = model_vars["params"]
    second: dict[str, Any] = {}
    layers = {}
    for path, spec in qmodel.layers.items():
        layers[path] = LayerSpec(
            path=path, weight_name=spec.weight_name, rule=binary_rule(spec.rule)
        )
        if spec.name not in chosen:
            continue
        rule = spec.rule
        w = np.asarray(jax.device_get(tree_get(params, path)[spec.weight_name]))
        gran = rule.weight_granularity
        axis = rule.weight_axis if isinstance(rule.weight_axis, int) else rule.weight_axis[0]
        try:
            w1, w2 = tws_split_weight(w, granularity=gran, axis=axis)
        except ValueError as e:
            raise ValueError(f"TWS of {spec.name}/{spec.weight_name}: {e}") from None
        params = tree_set(params, (*path, spec.weight_name), jnp.asarray(w1))
        second = tree_set(second, (*path, spec.weight_name), jnp.asarray(w2))
    split_vars = {**model_vars, "params": params, SPLIT: second, "quant": quant}
    split_vars["quant_stats"] = stats
    model = SplitBinaryModel(
        apply_fn=qmodel.apply_fn,
        layers=layers,
        split=frozenset(ternary[n].path for n in chosen),
    )
    return split_vars, model


def export_split(
    split_vars: Mapping[str, Any], model: SplitBinaryModel
) -> tuple[dict[str, Any], Callable[..., Any]]:
    """Packed export: every quantized weight (and each split half) as a ``QArray``.

    Returns ``(packed, apply_packed)``; ``cost.model_bytes_from_tree(packed)`` is the model size
    (1-bit packed binary halves with their scales, float biases/LayerNorms, 8-bit layers), and
    ``apply_packed(packed, x)`` runs the dequantized weights (the same function).
    """
    _, quant, stats = split_variables({k: v for k, v in split_vars.items() if k != SPLIT})
    params, second = split_vars["params"], split_vars.get(SPLIT, {})
    packed_second: dict[str, Any] = {}
    for path, spec in model.layers.items():
        rule = spec.rule
        if rule.weight is None:
            continue
        where = "/".join((*path, spec.weight_name))
        w = tree_get(params, path)[spec.weight_name]
        lq = tree_get(quant, path).get(spec.weight_name, {})
        params = tree_set(params, (*path, spec.weight_name), weight_to_qarray(rule, w, lq, where))
        if path in model.split:
            w2 = tree_get(second, path)[spec.weight_name]
            q2 = weight_to_qarray(rule, w2, {}, where + "#2")
            packed_second = tree_set(packed_second, (*path, spec.weight_name), q2)
    packed = {**split_vars, "params": params, SPLIT: packed_second}
    packed["quant_stats"] = stats

    def apply_packed(packed_vars: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        deq = lambda t: jax.tree.map(
            lambda q: dequantize(q) if isinstance(q, QArray) else q,
            t,
            is_leaf=lambda q: isinstance(q, QArray),
        )
        unpacked = {k: (deq(v) if k in ("params", SPLIT) else v) for k, v in packed_vars.items()}
        plain = SplitBinaryModel(
            model.apply_fn,
            {
                p: dataclasses.replace(s, rule=dataclasses.replace(s.rule, weight=None))
                for p, s in model.layers.items()
            },
            frozenset(),
        )
        return plain.apply(_merge_halves(unpacked, model), *args, **kwargs)

    return packed, apply_packed


def _merge_halves(variables: Mapping[str, Any], model: SplitBinaryModel) -> dict[str, Any]:
    """Dequantized variables with each split layer's two halves summed into one weight."""
    params, second = variables["params"], variables.get(SPLIT, {})
    for path in model.split:
        name = model.layers[path].weight_name
        w = tree_get(params, path)[name] + tree_get(second, path)[name]
        params = tree_set(params, (*path, name), w)
    return {k: v for k, v in variables.items() if k != SPLIT} | {"params": params}
