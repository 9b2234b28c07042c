"""``QUANTIZERS``: every fake quantizer by name, with the leaves it learns and the options it takes.

Rules and trainers select quantizers by name (``QuantRule(weight="lsq", ...)``); generic code then
calls :func:`init_quantizer_params` once (outside ``jit``, on a calibration sample) and
:func:`apply_quantizer` in the forward pass. The learnable leaves are a plain dict
(``{"step": ...}`` for LSQ, ``{}`` for quantizers that learn nothing), so they live in the
model's params and any optax optimizer trains them.

Example:
    >>> import jax.numpy as jnp
    >>> x = jnp.linspace(-1.0, 1.0, 8)
    >>> params = init_quantizer_params("lsq", x, bits=4)
    >>> sorted(params), apply_quantizer("lsq", x, params, bits=4).shape
    (['step'], (8,))
    >>> QUANTIZERS["twn"].bits, QUANTIZERS["ttq"].learned
    ((2,), ('wp', 'wn'))
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

import jax

from efficient_jax.quant._common import GRANULARITIES, check_bits
from efficient_jax.quant._laq import laq_quantize
from efficient_jax.quant._learned import (
    init_lsq_plus,
    init_lsq_step,
    init_pact_alpha,
    init_uniform_clip,
    lsq_plus_quantize,
    lsq_quantize,
    pact_quantize,
    uniform_clip_quantize,
)
from efficient_jax.quant._ternary_binary import (
    binary_act_quantize,
    bwn_quantize,
    init_ttq,
    ternary_act_quantize,
    ttq_quantize,
    twn_quantize,
)
from efficient_jax.quant._uniform import dorefa_quantize, uniform_quantize

KINDS = ("weight", "activation", "any")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuantizerSpec:
    """One entry of :data:`QUANTIZERS`."""

    # The registry key.
    name: str
    # (x, params, *, bits, **options) -> fake-quantized x (x's shape and dtype).
    apply: Callable[..., jax.Array]
    # (x, *, bits, **options) -> {leaf name: initial value}; {} when nothing is learned.
    init: Callable[..., dict[str, jax.Array]]
    # Names of the learnable leaves, in the order the paper introduces them.
    learned: tuple[str, ...] = ()
    # Allowed bit widths.
    bits: tuple[int, ...] = tuple(range(1, 9))
    # What it is meant for: "weight", "activation" or "any".
    kind: str = "any"
    # Keyword options accepted by apply and init (each takes the ones it needs).
    options: tuple[str, ...] = ()
    # Granularities accepted by the "granularity" option (per_tensor only if it has none).
    granularities: tuple[str, ...] = ("per_tensor",)
    # Paper (and [ext] code) the formulas come from.
    reference: str = ""


def _pick(options: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {k: options[k] for k in names if k in options}


def _no_params(x, *, bits, **options):
    del x, bits, options
    return {}


_LAYOUT = ("granularity", "axis", "group_size")

_SPECS = [
    QuantizerSpec(
        name="uniform",
        apply=lambda x, p, *, bits, **o: uniform_quantize(x, bits, **o),
        init=_no_params,
        options=("symmetric", *_LAYOUT, "calibration"),
        granularities=GRANULARITIES,
        reference="Bai 2021 Eq. 2.4; min-max/percentile/MSE calibration",
    ),
    QuantizerSpec(
        name="dorefa",
        apply=lambda x, p, *, bits: dorefa_quantize(x, bits),
        init=_no_params,
        kind="weight",
        reference="Zhou et al. 2016; Bai 2021 Eq. 2.5",
    ),
    QuantizerSpec(
        name="pact",
        apply=lambda x, p, *, bits: pact_quantize(x, p["alpha"], bits),
        init=lambda x, *, bits: {"alpha": init_pact_alpha(x)},
        learned=("alpha",),
        kind="activation",
        reference="Choi et al. 2018 (PACT) [ext]",
    ),
    QuantizerSpec(
        name="uniform_clip",
        apply=lambda x, p, *, bits: uniform_clip_quantize(x, p["clip_lo"], p["clip_hi"], bits),
        init=lambda x, *, bits: init_uniform_clip(x),
        learned=("clip_lo", "clip_hi"),
        bits=tuple(range(2, 9)),
        reference="BinaryBERT utils_quant.SymQuantizer [ext]; Bai 2021 §5.2 (A8)",
    ),
    QuantizerSpec(
        name="lsq",
        apply=lambda x, p, *, bits, **o: lsq_quantize(x, p["step"], bits, **_pick(o, "symmetric")),
        init=lambda x, *, bits, **o: {"step": init_lsq_step(x, bits, **o)},
        learned=("step",),
        bits=tuple(range(2, 9)),
        options=("symmetric", "granularity", "axis"),
        granularities=("per_tensor", "per_channel"),
        reference="Esser et al. 2020 [ext]; BinaryBERT Sym/AsymLsqQuantizer [ext]",
    ),
    QuantizerSpec(
        name="lsq_plus",
        apply=lambda x, p, *, bits, **o: lsq_plus_quantize(x, p["step"], p["offset"], bits),
        init=lambda x, *, bits, **o: init_lsq_plus(x, bits, **o),
        learned=("step", "offset"),
        bits=tuple(range(2, 9)),
        options=("granularity", "axis"),
        granularities=("per_tensor", "per_channel"),
        reference="Bhalgat et al. 2020 (LSQ+) [ext]",
    ),
    QuantizerSpec(
        name="twn",
        apply=lambda x, p, *, bits, **o: twn_quantize(x, **o),
        init=_no_params,
        bits=(2,),
        kind="weight",
        options=_LAYOUT,
        granularities=GRANULARITIES,
        reference="Li et al. 2016; Bai 2021 Eqs. 2.6/5.1; BinaryBERT TwnQuantizer [ext]",
    ),
    QuantizerSpec(
        name="ttq",
        apply=lambda x, p, *, bits, **o: ttq_quantize(x, p["wp"], p["wn"], **o),
        init=lambda x, *, bits, **o: init_ttq(x, **o),
        learned=("wp", "wn"),
        bits=(2,),
        kind="weight",
        options=("threshold",),
        reference="Zhu et al. 2017 (TTQ)",
    ),
    QuantizerSpec(
        name="bwn",
        apply=lambda x, p, *, bits, **o: bwn_quantize(x, **o),
        init=_no_params,
        bits=(1,),
        kind="weight",
        options=_LAYOUT,
        granularities=GRANULARITIES,
        reference="Rastegari et al. 2016; Bai 2021 Eqs. 2.7-2.9/5.2",
    ),
    QuantizerSpec(
        name="laq",
        apply=lambda x, p, *, bits, **o: laq_quantize(x, bits, **o),
        init=_no_params,
        kind="weight",
        options=(*_LAYOUT, "v", "eps", "iters"),
        granularities=GRANULARITIES,
        reference="Hou et al. 2018; BinaryBERT LaqQuantizer [ext]",
    ),
    QuantizerSpec(
        name="binary_act",
        apply=lambda x, p, *, bits: binary_act_quantize(x),
        init=_no_params,
        bits=(1,),
        kind="activation",
        reference="Hubara et al. 2016 (sign with the |x| <= 1 STE)",
    ),
    QuantizerSpec(
        name="ternary_act",
        apply=lambda x, p, *, bits, **o: ternary_act_quantize(x, **o),
        init=_no_params,
        bits=(2,),
        kind="activation",
        options=("threshold",),
        reference="[ext] ternary sign activation",
    ),
]

#: Every quantizer by name (read-only).
QUANTIZERS: Mapping[str, QuantizerSpec] = types.MappingProxyType({s.name: s for s in _SPECS})


def get_quantizer(name: str) -> QuantizerSpec:
    """The :class:`QuantizerSpec` called ``name``; ``ValueError`` listing the valid names."""
    if not isinstance(name, str) or name not in QUANTIZERS:
        raise ValueError(f"Unknown quantizer {name!r}; valid: {sorted(QUANTIZERS)}.")
    return QUANTIZERS[name]


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
    bits = check_bits(bits, spec.bits, name=name)
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
    bits = check_bits(bits, spec.bits, name=name)
    _check_options(spec, options)
    return spec.init(x, bits=bits, **options)
