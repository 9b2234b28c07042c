"""Model-level quantization: fake-quant Flax models selected by ``QuantRule`` lists; calibration.

:func:`quantize_model` wraps a Flax Linen model (or its ``apply`` function) without touching its
code: the ``Dense``, ``Conv``, ``Einsum`` and ``Embed`` layers whose weight path (``kernel`` or
``embedding``) a rule matches get their weight and their input activation fake-quantized by the
rule's quantizers (first matching rule wins; see :func:`~efficient_jax.qat.intercept_layers`).
``Embed`` input ids are never quantized; its activation rule applies to ``attend``'s query.

Two steps, QAT then serving (see :func:`~efficient_jax.qat.convert`)::

    qat_params, apply_fn = prepare(model, variables, rules, calibration_batches)
    # ... train qat_params["params"] and qat_params["quant"] with apply_fn ...
    serving_params, serve_fn = convert(qat_params, rules, model=apply_fn)

**Layout of** ``qat_params`` (the model's variables plus two collections, nested by layer path)::

    {"params": <float latent weights, as in the float model>,
     "batch_stats": ...,                   # other collections unchanged
     "quant": {"conv1": {"kernel": {"step": s_w}, "input": {"step": s_x}}, ...},
     "quant_stats": {"conv1": {"input": {"min", "max", "mean_abs", "lo", "hi"}}, ...}}

``quant`` holds the learnable quantizer leaves (``QUANTIZERS[name].learned``: LSQ ``step``, PACT
``alpha``, LSQ+ ``offset``, TTQ ``wp``/``wn``...) under the weight name (``kernel``/``embedding``)
and ``input``; train it with ``params``. ``quant_stats`` holds the calibration statistics of each
quantized input: constants (their gradient is zero), used as the static range of ``"uniform"``
activations (scale from ``lo``/``hi``) and to initialise learned activation quantizers.
Quantizers without learned leaves and non-``uniform`` activation quantizers need no entry.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import get_model
    >>> from efficient_jax.qat import QuantRule
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (4, 8))
    >>> variables = model.init(jax.random.key(1), x)
    >>> rules = [
    ...     QuantRule(path_regex="kernel$", weight="lsq", weight_bits=4, act="lsq", act_bits=4)
    ... ]
    >>> qat_params, apply_fn = prepare(model, variables, rules, [x])
    >>> sorted(qat_params["quant"]["head"]["kernel"]), apply_fn(qat_params, x).shape
    (['step'], (4, 3))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax

from efficient_jax.core import match_rules, path_to_str
from efficient_jax.qat._calibrate import calibrate
from efficient_jax.qat._intercept import (
    INPUT,
    QUANT,
    STATS,
    WEIGHT_NAMES,
    LayerCall,
    LayerSpec,
    as_variables,
    intercept_layers,
    split_variables,
    tree_get,
    tree_set,
)
from efficient_jax.qat._qlayer import (
    fake_quant_act,
    fake_quant_weight,
    init_act_params,
    needs_stats,
    weight_quant_params,
)
from efficient_jax.qat._rules import QuantRule
from efficient_jax.quant import apply_quantizer
from efficient_jax.types import PyTree


@dataclasses.dataclass(frozen=True, eq=False)
class QuantizedModel:
    """A float model whose selected layers run fake-quantized; built by :func:`quantize_model`.

    Call it like the model's ``apply``: ``qmodel(qat_params, x, train=False)`` (works under
    ``jit``, ``grad`` and with sharded inputs; gradients reach the latent weights and the
    learnable quantizer leaves through the quantizers' straight-through estimators).

    Attributes:
      apply_fn: the float model's ``apply(variables, *args, **kwargs)`` (not jitted).
      rules: the rules, in order.
      layers: module path -> :class:`LayerSpec` of every layer with a weight a quantizing rule
        (one with ``weight`` or ``act`` set) matched first.
      stats: calibration statistics (see :func:`calibrate`), or ``None``.
    """

    apply_fn: Callable[..., Any]
    rules: tuple[QuantRule, ...]
    layers: Mapping[tuple[str, ...], LayerSpec]
    stats: PyTree | None = None

    def input_layers(self) -> list[LayerSpec]:
        """Layers whose input always needs calibration statistics (Embed ids never do)."""
        return [
            s
            for s in self.layers.values()
            if s.rule.act is not None and s.weight_name != "embedding" and needs_stats(s.rule)
        ]

    def init(self, variables: Mapping[str, Any], stats: PyTree | None = None) -> dict[str, Any]:
        """QAT variables: ``variables`` plus the ``quant`` and ``quant_stats`` collections.

        Weight quantizer leaves are initialised from the weights, activation ones from ``stats``
        (default: ``self.stats``).

        Raises:
          ValueError: NaN/inf weights, or layers whose activation quantizer needs statistics
            that ``stats`` lacks (naming them).
        """
        variables = as_variables(variables)
        model_vars, _, _ = split_variables(variables)
        stats = self.stats if stats is None else stats
        quant = weight_quant_params(self.layers, model_vars["params"])
        missing = [s.name for s in self.input_layers() if not tree_get(stats, s.path).get(INPUT)]
        if missing:
            raise ValueError(
                f"No activation statistics for layers {missing}: their rules quantize the input "
                "with a calibrated or learned quantizer. Run calibrate(qmodel, variables, "
                "batches) or pass calibration_batches."
            )
        kept_stats: dict[str, Any] = {}
        for spec in self.layers.values():
            st = tree_get(stats, spec.path).get(INPUT)
            if spec.rule.act is None or st is None:
                continue
            kept_stats = tree_set(kept_stats, (*spec.path, INPUT), dict(st))
            init = init_act_params(spec.rule, st)
            if init:
                quant = tree_set(quant, (*spec.path, INPUT), init)
        return {**model_vars, QUANT: quant, STATS: kept_stats}

    def apply(
        self,
        qat_params: Mapping[str, Any],
        *args: Any,
        weight_fn: Callable[[LayerCall, Mapping[str, Any]], jax.Array] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The fake-quantized forward: ``apply_fn`` with the selected layers quantized.

        Args:
          qat_params: the QAT variables (model variables plus ``quant`` and ``quant_stats``).
          *args, **kwargs: passed to ``apply_fn`` (the model's inputs, ``train=...``).
          weight_fn: the weight hook: ``weight_fn(call, layer_quant)`` returns the weight each
            selected layer runs with, from its :class:`LayerCall` and its ``quant`` entries
            (nested by weight name / ``"input"``). Default :func:`fake_quant_weight` (the stored
            weight through the rule's quantizer); e.g. BinaryBERT's split model adds a second
            binary half. The input is fake-quantized by the rule either way.
        """
        model_vars, quant, stats = split_variables(qat_params)
        weight_fn = fake_quant_weight if weight_fn is None else weight_fn

        def layer_fn(call: LayerCall) -> Any:
            lq, ls = tree_get(quant, call.spec.path), tree_get(stats, call.spec.path)
            w = weight_fn(call, lq)
            x = call.inputs
            if call.quantizes_input:
                x = fake_quant_act(call.spec, lq.get(INPUT, {}), ls.get(INPUT), x)
            return call.run(x, **{call.spec.weight_name: w})

        with intercept_layers(self.layers, layer_fn):
            return self.apply_fn(model_vars, *args, **kwargs)

    __call__ = apply


# ---------------------------------------------------------------------------------------------
# Rule resolution


def resolve_layers(
    params: Mapping[str, Any], rules: Sequence[QuantRule]
) -> dict[tuple[str, ...], LayerSpec]:
    """Module path -> :class:`LayerSpec` for every weight leaf a quantizing rule matches first.

    Warns (via :func:`~efficient_jax.core.match_rules`) for a rule that matches no parameter,
    listing the existing paths.

    Raises:
      ValueError: a rule is not a ``QuantRule``, or a quantizing rule matches only leaves that
        are not a layer weight (``kernel``/``embedding``), e.g. biases or LayerNorm scales.
    """
    for r in rules:
        if not isinstance(r, QuantRule):
            raise ValueError(f"rules must be QuantRule instances; got {r!r}.")
    picked = match_rules(params, list(rules), name="quantization rule")
    leaves, _ = jax.tree.flatten_with_path(picked, is_leaf=lambda x: x is None)
    layers: dict[tuple[str, ...], LayerSpec] = {}
    others: dict[int, list[str]] = {}
    used: set[int] = set()
    for key_path, rule in leaves:
        if rule is None or (rule.weight is None and rule.act is None):
            continue
        path = tuple(path_to_str(key_path).split("/"))
        idx = next(i for i, r in enumerate(rules) if r is rule)
        if path[-1] in WEIGHT_NAMES:
            layers[path[:-1]] = LayerSpec(path=path[:-1], weight_name=path[-1], rule=rule)
            used.add(idx)
        else:
            others.setdefault(idx, []).append("/".join(path))
    for idx, paths in others.items():
        if idx not in used:
            raise ValueError(
                f"{rules[idx]!r} matches only {paths[:8]}, which are not layer weights: only the "
                f"{list(WEIGHT_NAMES)} of Dense/Conv/Einsum/Embed layers are quantized (biases "
                "and normalisation parameters stay float). Anchor the regex, e.g. 'kernel$'."
            )
    return layers


def quantize_model(
    apply_fn_or_model: nn.Module | Callable[..., Any],
    params: Mapping[str, Any],
    rules: Sequence[QuantRule],
    *,
    calibration_batches: Iterable[Any] | None = None,
) -> QuantizedModel:
    """Selects the layers ``rules`` quantize and, given batches, calibrates their inputs.

    Args:
      apply_fn_or_model: a Flax Linen module, or an (un-jitted) ``apply(variables, *args,
        **kwargs)`` function that runs Linen modules.
      params: the model's variables ``{"params": ..., ...}`` (a bare params tree also works).
      rules: :class:`QuantRule` list matched against parameter paths (first match wins).
      calibration_batches: optional batches for :func:`calibrate` (stored as ``.stats``).

    Returns:
      A :class:`QuantizedModel`; ``qmodel.init(variables)`` builds its QAT variables.

    Raises:
      ValueError: see :func:`resolve_layers` and :func:`calibrate`. A rule matching a weight of
        an unsupported layer type raises when that layer is first called.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.models import get_model
        >>> model = get_model("lenet5")
        >>> variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
        >>> rules = [QuantRule(path_regex="fc3"),  # first match wins: keep the classifier float
        ...          QuantRule(path_regex="kernel$", weight="twn", weight_bits=2)]
        >>> qmodel = quantize_model(model, variables, rules)
        >>> [(s.name, s.rule.weight) for s in qmodel.layers.values()]
        [('conv1', 'twn'), ('conv2', 'twn'), ('fc1', 'twn'), ('fc2', 'twn')]
    """
    if isinstance(apply_fn_or_model, QuantizedModel):
        apply_fn_or_model = apply_fn_or_model.apply_fn  # re-quantize the float model
    apply_fn = getattr(apply_fn_or_model, "apply", apply_fn_or_model)
    if not callable(apply_fn):
        raise ValueError(f"Expected a Flax module or an apply function; got {apply_fn_or_model!r}.")
    variables = as_variables(params)
    layers = resolve_layers(variables["params"], rules)
    qmodel = QuantizedModel(apply_fn=apply_fn, rules=tuple(rules), layers=layers)
    if calibration_batches is not None:
        qmodel = dataclasses.replace(
            qmodel, stats=calibrate(qmodel, variables, calibration_batches)
        )
    return qmodel


def fake_quant_params(params: Mapping[str, Any], rules: Sequence[QuantRule]) -> dict[str, Any]:
    """``params`` with every weight a rule quantizes replaced by its fake-quantized value.

    For quantizers that learn nothing (``uniform``, ``twn``, ``bwn``, ...): the point in weight
    space that a QAT model evaluates (e.g. for loss-landscape analysis with float activations).

    Raises:
      ValueError: as :func:`resolve_layers`; a quantizer that needs learned leaves.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"fc": {"kernel": jnp.array([[0.9, -0.1], [0.05, -1.1]]), "bias": jnp.ones(2)}}
        >>> q = fake_quant_params(params, [QuantRule(path_regex="kernel$", weight="twn",
        ...                                          weight_bits=2)])
        >>> q["fc"]["kernel"].tolist(), q["fc"]["bias"].tolist()
        ([[1.0, 0.0], [0.0, -1.0]], [1.0, 1.0])
    """
    out = dict(params)
    for path, spec in resolve_layers(params, rules).items():
        rule = spec.rule
        if rule.weight is None:
            continue
        w = tree_get(out, path)[spec.weight_name]
        w = apply_quantizer(rule.weight, w, {}, bits=rule.weight_bits, **rule.weight_options())
        out = tree_set(out, (*path, spec.weight_name), w)
    return out


def prepare(
    model: nn.Module | Callable[..., Any],
    params: Mapping[str, Any],
    rules: Sequence[QuantRule],
    calibration_batches: Iterable[Any] | None = None,
) -> tuple[dict[str, Any], QuantizedModel]:
    """Fake-quant training setup: ``(qat_params, apply_fn)`` (layout in the module docstring).

    ``apply_fn(qat_params, x, train=...)`` is the :class:`QuantizedModel`; pass it as ``model`` to
    :func:`~efficient_jax.qat.convert`.

    Raises:
      ValueError: as :func:`quantize_model`, :func:`calibrate` and :meth:`QuantizedModel.init`.
    """
    qmodel = quantize_model(model, params, rules, calibration_batches=calibration_batches)
    return qmodel.init(params), qmodel
