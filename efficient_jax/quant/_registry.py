"""``QUANTIZERS``: every fake quantizer by name, with the leaves it learns and the options it takes.

Rules and trainers select quantizers by name (``QuantRule(weight="lsq", ...)``); generic code then
calls :func:`init_quantizer_params` once (outside ``jit``, on a calibration sample) and
:func:`apply_quantizer` in the forward pass. The learnable leaves are a plain dict
(``{"step": ...}`` for LSQ, ``{}`` for quantizers that learn nothing), so they live in the
model's params and any optax optimizer trains them.

The built-in quantizers are registered below, one line each; each module defines its
:class:`QuantizerSpec` next to the quantizer's function. A new quantizer is one module (its
function and spec) plus one line here; user code registers its own with
:func:`register_quantizer` (see ``docs/CONTRIBUTING.md``).

Example:
    >>> import jax.numpy as jnp
    >>> x = jnp.linspace(-1.0, 1.0, 8)
    >>> params = init_quantizer_params("lsq", x, bits=4)
    >>> sorted(params), apply_quantizer("lsq", x, params, bits=4).shape
    (['step'], (8,))
    >>> QUANTIZERS["twn"].bits, QUANTIZERS["ttq"].learned
    ((2,), ('wp', 'wn'))
    >>> available_quantizers()[:3]
    ['uniform', 'dorefa', 'pact']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax

from efficient_jax.core import Registry
from efficient_jax.quant._clip import PACT, UNIFORM_CLIP
from efficient_jax.quant._laq import LAQ
from efficient_jax.quant._lsq import LSQ, LSQ_PLUS
from efficient_jax.quant._spec import QuantizerSpec
from efficient_jax.quant._ternary_binary import BINARY_ACT, BWN, TERNARY_ACT, TTQ, TWN
from efficient_jax.quant._uniform import DOREFA, UNIFORM

#: Every quantizer by name: a :class:`~efficient_jax.core.Registry` of :class:`QuantizerSpec`.
QUANTIZERS = Registry("quantizer")


def register_quantizer(spec: QuantizerSpec) -> QuantizerSpec:
    """Registers ``spec`` under ``spec.name`` (then rules, presets and the contract test see it).

    Raises:
      ValueError: ``spec`` is not a :class:`QuantizerSpec`, or its name is already registered.

    Example (``dataclasses.replace(QUANTIZERS["bwn"], name="my_bwn")`` would register a copy):
        >>> register_quantizer(QUANTIZERS["bwn"])
        Traceback (most recent call last):
        ...
        ValueError: quantizer 'bwn' is already registered.
    """
    if not isinstance(spec, QuantizerSpec):
        raise ValueError(f"register_quantizer takes a QuantizerSpec; got {type(spec).__name__}.")
    return QUANTIZERS.register(spec.name, spec)


# The built-in quantizers, one line each (the order of available_quantizers()).
register_quantizer(UNIFORM)
register_quantizer(DOREFA)
register_quantizer(PACT)
register_quantizer(UNIFORM_CLIP)
register_quantizer(LSQ)
register_quantizer(LSQ_PLUS)
register_quantizer(TWN)
register_quantizer(TTQ)
register_quantizer(BWN)
register_quantizer(LAQ)
register_quantizer(BINARY_ACT)
register_quantizer(TERNARY_ACT)


def available_quantizers() -> list[str]:
    """Registered quantizer names, in registration order.

    Example:
        >>> "lsq" in available_quantizers()
        True
    """
    return QUANTIZERS.names()


def get_quantizer(name: str) -> QuantizerSpec:
    """The :class:`QuantizerSpec` called ``name``; ``ValueError`` listing the valid names.

    Example:
        >>> get_quantizer("bwn").bits
        (1,)
    """
    return QUANTIZERS.get(name)


def _check_options(spec: QuantizerSpec, options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(
            f"Quantizer {spec.name!r} does not take {unknown}; it takes {list(spec.options)}."
        )
    if "granularity" in options and options["granularity"] not in spec.granularities:
        raise ValueError(
            f"Quantizer {spec.name!r} supports granularity in {list(spec.granularities)}; got "
            f"{options['granularity']!r}."
        )


def apply_quantizer(
    name: str,
    x: jax.typing.ArrayLike,
    params: Mapping[str, jax.Array] | None = None,
    *,
    bits: int,
    **options: Any,
) -> jax.Array:
    """Fake-quantizes ``x`` with the quantizer ``name`` and its learnable ``params``.

    Raises:
      ValueError: unknown name, bits the quantizer does not allow, an option it does not take,
        missing learnable leaves, or the quantizer's own input errors.
    """
    spec = get_quantizer(name)
    bits = spec.check_bits(bits)
    _check_options(spec, options)
    params = {} if params is None else params
    missing = [k for k in spec.learned if k not in params]
    if missing:
        raise ValueError(
            f"Quantizer {name!r} needs params {list(spec.learned)} (from init_quantizer_params); "
            f"missing {missing}."
        )
    return spec.apply(x, params, bits=bits, **options)


def init_quantizer_params(
    name: str, x: jax.typing.ArrayLike, bits: int, **options: Any
) -> dict[str, jax.Array]:
    """The initial learnable leaves of quantizer ``name`` for data ``x`` (``{}`` if none).

    Works under ``jit`` and :func:`jax.eval_shape` (so with :class:`jax.ShapeDtypeStruct` too).

    Example:
        >>> import jax.numpy as jnp
        >>> init_quantizer_params("lsq", jnp.array([1.0, -1.0]), bits=2)  # 2·1/sqrt(1)
        {'step': Array(2., dtype=float32)}
    """
    spec = get_quantizer(name)
    bits = spec.check_bits(bits)
    _check_options(spec, options)
    return spec.init(x, bits=bits, **options)
