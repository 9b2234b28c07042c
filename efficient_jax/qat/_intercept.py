"""Run Flax Linen ``Dense``/``Conv``/``Einsum``/``Embed`` layers with other weights and inputs.

The model code is not rewritten (qwix's approach): :func:`intercept_layers` wraps ``apply`` in
:func:`flax.linen.intercept_methods` and hands each call of a selected layer (found by its module
path, which is the path of its parameters) to ``layer_fn(call)``. ``layer_fn`` reads the stored
weight (:meth:`LayerCall.weight`), transforms the weight and the input, and runs the layer's own
forward with :meth:`LayerCall.run`: an unbound clone of the module applied to
``{"params": {..., weight}}``. Reusing Flax's forward keeps every layer option (padding modes,
feature groups, extra batch dims, Einsum bias shapes, dtype promotion) as in the float model.
The clone carries a marker in its ``promote_dtype`` field, so the interceptor lets it through.

Only ``__call__`` (and ``Embed.attend``) is intercepted; other methods run unchanged.

Example:
    >>> import flax.linen as nn, jax, jax.numpy as jnp
    >>> model = nn.Dense(2)
    >>> variables = model.init(jax.random.key(0), jnp.ones((1, 3)))
    >>> spec = LayerSpec(path=(), weight_name="kernel", rule=None)
    >>> zero_kernel = lambda call: call.run(call.inputs, kernel=jnp.zeros((3, 2)))
    >>> with intercept_layers({(): spec}, zero_kernel):
    ...     model.apply(variables, jnp.ones((1, 3))).tolist()
    [[0.0, 0.0]]
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np

# Collections added to the model's variables (see ``_model`` for the layout).
QUANT = "quant"  # learnable quantizer leaves, nested by layer path
STATS = "quant_stats"  # calibration statistics (constants), nested by layer path
INPUT = "input"  # the key of a layer's input-activation entry in QUANT / STATS

#: The layer types whose weight and input can be quantized.
SUPPORTED_LAYERS: tuple[type, ...] = (nn.Dense, nn.Conv, nn.Einsum, nn.Embed)
#: The parameter holding each supported layer's weight.
WEIGHT_NAMES = ("kernel", "embedding")


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One quantized layer: its module path, the name of its weight and the rule that matched it."""

    path: tuple[str, ...]
    weight_name: str
    rule: Any

    @property
    def name(self) -> str:
        """The ``/``-joined module path (``""`` for a root layer)."""
        return "/".join(self.path)


class _CloneMarker:
    """A ``promote_dtype`` wrapper marking our own clones (the interceptor passes them through)."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def keep_dtypes(*args: Any, dtype: Any = None, inexact: bool = True) -> list[Any]:
    """A ``promote_dtype`` that changes nothing (integer codes stay integer)."""
    del dtype, inexact
    return list(args)


def layer_kind(module: nn.Module) -> str:
    """``"dense"``, ``"conv"``, ``"einsum"`` or ``"embed"``."""
    for kind, cls in zip(("dense", "conv", "einsum", "embed"), SUPPORTED_LAYERS, strict=True):
        if isinstance(module, cls):
            return kind
    raise ValueError(f"{type(module).__name__} is not a supported layer type.")


@dataclasses.dataclass
class LayerCall:
    """One intercepted call of a selected layer."""

    module: nn.Module
    method: str  # "__call__" or "attend"
    spec: LayerSpec
    inputs: Any  # the layer input (token ids for Embed.__call__)
    args: tuple[Any, ...]  # the remaining positional arguments
    kwargs: dict[str, Any]

    @property
    def kind(self) -> str:
        return layer_kind(self.module)

    @property
    def quantizes_input(self) -> bool:
        """Whether the rule quantizes this call's input (an Embed's only at ``attend``)."""
        if self.spec.rule.act is None:
            return False
        return not (self.kind == "embed" and self.method == "__call__")

    def params(self) -> dict[str, Any]:
        """The layer's own parameters (weight, bias)."""
        return dict(self.module.variables.get("params", {}))

    def weight(self) -> Any:
        """The stored weight (a float array, or a ``QArray`` in a serving tree)."""
        return self.module.get_variable("params", self.spec.weight_name)

    def run(
        self,
        inputs: Any,
        *,
        promote: Callable[..., Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        **weights: Any,
    ) -> Any:
        """The layer's forward on ``inputs`` with ``weights`` replacing the stored parameters.

        Args:
          inputs: the new input.
          promote: a ``promote_dtype`` for the clone (default: the module's own).
          overrides: module fields to change (e.g. ``use_bias=False``, ``dot_general=...``).
          **weights: parameters to substitute (``kernel=...``); the others are the stored ones.
        """
        params = {**self.params(), **weights}
        if overrides and overrides.get("use_bias") is False:
            params.pop("bias", None)
        fields = dict(overrides or {})
        fields["promote_dtype"] = _CloneMarker(promote or self.module.promote_dtype)
        clone = self.module.clone(parent=None, **fields)
        method = None if self.method == "__call__" else self.method
        return clone.apply({"params": params}, inputs, *self.args, method=method, **self.kwargs)


def _split_input(method: str, args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
    if args:
        return args[0], tuple(args[1:]), dict(kwargs)
    kwargs = dict(kwargs)
    key = "query" if method == "attend" else "inputs"
    if key not in kwargs:
        raise ValueError(f"Could not find the input of {method}: pass it positionally.")
    return kwargs.pop(key), (), kwargs


def _is_float(module: nn.Module, spec: LayerSpec) -> bool:
    return isinstance(module.get_variable("params", spec.weight_name), jax.Array | np.ndarray)


_METHODS = {"dense": ("__call__",), "conv": ("__call__",), "einsum": ("__call__",)}
_METHODS["embed"] = ("__call__", "attend")


@contextlib.contextmanager
def intercept_layers(
    layers: Mapping[tuple[str, ...], LayerSpec], layer_fn: Callable[[LayerCall], Any]
) -> Iterator[None]:
    """Within the context, calls of the layers at ``layers``' paths go to ``layer_fn``.

    Raises (when such a layer is called):
      ValueError: a selected path belongs to a module that is not a Dense, Conv, Einsum or Embed
        (e.g. ``DenseGeneral``, ``ConvTranspose``, ``ConvLocal`` or a custom module).
    """

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(getattr(module, "promote_dtype", None), _CloneMarker) or module.scope is None:
            return next_fun(*args, **kwargs)
        spec = layers.get(tuple(module.path))
        if spec is None:
            return next_fun(*args, **kwargs)
        if not isinstance(module, SUPPORTED_LAYERS):
            raise ValueError(
                f"Quantization rule {spec.rule.path_regex!r} matches "
                f"{'/'.join((*spec.path, spec.weight_name))!r}, the weight of a "
                f"{type(module).__name__} layer; only {[c.__name__ for c in SUPPORTED_LAYERS]} "
                "layers can be quantized. Exclude it with a rule that quantizes nothing, e.g. "
                f"QuantRule(path_regex={spec.name + '/'!r}) placed first."
            )
        if context.method_name == "setup" and not _is_float(module, spec):
            return None  # Embed.setup would check the packed weight's shape; it is not used.
        if context.method_name not in _METHODS[layer_kind(module)]:
            return next_fun(*args, **kwargs)
        inputs, rest, kw = _split_input(context.method_name, args, kwargs)
        return layer_fn(LayerCall(module, context.method_name, spec, inputs, rest, kw))

    with nn.intercept_methods(interceptor):
        yield


# ---------------------------------------------------------------------------------------------
# Nested dicts keyed by layer path


def tree_get(tree: Mapping[str, Any] | None, path: tuple[str, ...]) -> Mapping[str, Any]:
    """``tree[p0][p1]...`` or ``{}`` where a key is missing.

    Example:
        >>> tree_get({"a": {"b": {"c": 1}}}, ("a", "b")), tree_get({"a": {}}, ("a", "x"))
        ({'c': 1}, {})
    """
    node: Any = tree or {}
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return {}
        node = node[key]
    return node


def tree_set(tree: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of ``tree`` with ``value`` at ``path`` (intermediate dicts copied or created).

    Example:
        >>> tree_set({"a": {"b": 1}}, ("a", "c", "d"), 2)
        {'a': {'b': 1, 'c': {'d': 2}}}
    """
    if not path:
        raise ValueError("tree_set needs a non-empty path.")
    out = dict(tree)
    head, rest = path[0], path[1:]
    out[head] = value if not rest else tree_set(out.get(head, {}), rest, value)
    return out


def split_variables(variables: Mapping[str, Any]) -> tuple[dict, dict, dict]:
    """``(model variables, quant, quant_stats)`` of a quantized-model variables dict.

    Example:
        >>> split_variables({"params": 1, "quant": {"fc": 2}, "quant_stats": {}})
        ({'params': 1}, {'fc': 2}, {})
    """
    model_vars = {k: v for k, v in variables.items() if k not in (QUANT, STATS)}
    return model_vars, dict(variables.get(QUANT, {})), dict(variables.get(STATS, {}))


def as_variables(variables: Mapping[str, Any]) -> dict[str, Any]:
    """``{"params": ...}`` variables; a bare params tree (no ``"params"`` key) is wrapped.

    Example:
        >>> as_variables({"fc": {"kernel": 0}})
        {'params': {'fc': {'kernel': 0}}}
    """
    if not isinstance(variables, Mapping):
        raise ValueError(f"variables must be a dict of collections; got {type(variables)}.")
    if "params" in variables and isinstance(variables["params"], Mapping):
        return dict(variables)
    return {"params": variables}
