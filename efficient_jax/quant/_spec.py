"""``QuantizerSpec``: what the library knows about one fake quantizer (its registry entry).

Each quantizer module defines the spec of its quantizers next to their functions; the registry
(:data:`~efficient_jax.quant.QUANTIZERS`, filled in ``quant/_registry.py``) lists them by name.
The spec is the one place that says which bit widths a quantizer accepts: the quantizer functions,
:func:`~efficient_jax.quant.apply_quantizer`, the model-level rules and the presets that build on
a quantizer all validate through :meth:`QuantizerSpec.check_bits`.

Example:
    >>> import jax.numpy as jnp
    >>> spec = QuantizerSpec(
    ...     name="sign", apply=lambda x, p, *, bits: jnp.where(x >= 0, 1.0, -1.0),
    ...     init=no_params, bits=(1,), kind="weight")
    >>> spec.check_bits(1)
    1
    >>> spec.check_bits(2)
    Traceback (most recent call last):
    ...
    ValueError: sign: bits must be 1; got 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax

from efficient_jax.quant._common import check_bits

#: What a quantizer is meant for.
KINDS = ("weight", "activation", "any")
#: Calibration statistics a learned activation quantizer may be initialised from.
STAT_NAMES = ("min", "max", "mean_abs")


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuantizerSpec:
    """One entry of :data:`~efficient_jax.quant.QUANTIZERS`.

    Raises ``ValueError`` on construction for an empty name, a ``kind`` outside :data:`KINDS`,
    bit widths outside 1..8, or ``init_stats`` naming unknown statistics.
    """

    # The registry key.
    name: str
    # (x, params, *, bits, **options) -> fake-quantized x (x's shape and dtype).
    apply: Callable[..., jax.Array]
    # (x, *, bits, **options) -> {leaf name: initial value}; {} when nothing is learned.
    init: Callable[..., dict[str, jax.Array]]
    # Names of the learnable leaves, in the order the paper introduces them.
    learned: tuple[str, ...] = ()
    # Allowed bit widths (the only statement of them; see check_bits).
    bits: tuple[int, ...] = tuple(range(1, 9))
    # What it is meant for: "weight", "activation" or "any".
    kind: str = "any"
    # Keyword options accepted by apply and init (each takes the ones it needs).
    options: tuple[str, ...] = ()
    # Granularities accepted by the "granularity" option (per_tensor only if it has none).
    granularities: tuple[str, ...] = ("per_tensor",)
    # Learned activation quantizers: the calibration statistics (STAT_NAMES) that initialise the
    # leaves: ``init`` is called on the small array of these values, which has the same
    # min / max / mean|x| as the calibration data. () if it cannot be initialised that way.
    init_stats: tuple[str, ...] = ()
    # Paper (and [ext] code) the formulas come from.
    reference: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"QuantizerSpec: name must be a non-empty string; got {self.name!r}.")
        if self.kind not in KINDS:
            raise ValueError(f"QuantizerSpec {self.name!r}: kind must be one of {list(KINDS)}.")
        try:
            bits = tuple(check_bits(b) for b in self.bits)
        except (TypeError, ValueError) as e:
            raise ValueError(f"QuantizerSpec {self.name!r}: {e}") from None
        if not bits:
            raise ValueError(f"QuantizerSpec {self.name!r}: bits must name at least one width.")
        object.__setattr__(self, "bits", bits)
        unknown = sorted(set(self.init_stats) - set(STAT_NAMES))
        if unknown:
            raise ValueError(
                f"QuantizerSpec {self.name!r}: unknown init_stats {unknown}; valid: "
                f"{list(STAT_NAMES)}."
            )

    def check_bits(self, bits: Any, *, name: str | None = None) -> int:
        """``bits`` as an int if this quantizer allows it, else a ``ValueError`` naming the
        allowed widths (prefixed by ``name``, default the quantizer's name)."""
        return check_bits(bits, self.bits, name=self.name if name is None else name)


def no_params(x: Any, *, bits: int, **options: Any) -> dict[str, jax.Array]:
    """The ``init`` of a quantizer that learns nothing: ``{}``."""
    del x, bits, options
    return {}


def pick(options: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The entries of ``options`` called ``names`` (those present)."""
    return {k: options[k] for k in names if k in options}


#: The layout options of quantizers with per-tensor / channel / group scales.
LAYOUT_OPTIONS = ("granularity", "axis", "group_size")
