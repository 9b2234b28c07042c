"""``QuantRule``: which layers/parameters to quantize and with which quantizers (first match wins).

A list of rules is matched against ``/``-joined parameter paths with
:func:`efficient_jax.core.match_rules` (``re.search``, first match wins), the one mechanism the
library uses for quantization, sharing, pruning and freezing.

Example:
    >>> from efficient_jax.core import match_rules
    >>> rules = [
    ...     QuantRule(path_regex=r"embed", weight="twn", weight_bits=2,
    ...               weight_granularity="per_channel", weight_axis=0),
    ...     QuantRule(path_regex=r"kernel$", weight="lsq", weight_bits=4, act="pact", act_bits=4),
    ... ]
    >>> params = {"embed": {"embedding": 0}, "Dense_0": {"kernel": 0, "bias": 0}}
    >>> picked = match_rules(params, rules)
    >>> picked["Dense_0"]["kernel"].weight, picked["Dense_0"]["bias"]
    ('lsq', None)
    >>> rules[0].weight_options()
    {'granularity': 'per_channel', 'axis': 0, 'group_size': None}
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from efficient_jax.quant import GRANULARITIES, check_bits, get_quantizer, parse_calibration

# Rule field suffix -> quantizer option name.
_WEIGHT_FIELDS = {
    "weight_symmetric": "symmetric",
    "weight_granularity": "granularity",
    "weight_axis": "axis",
    "weight_group_size": "group_size",
    "weight_calibration": "calibration",
}
_ACT_FIELDS = {"act_symmetric": "symmetric", "act_calibration": "calibration"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuantRule:
    """How to quantize the weights and input activations of the parameters a regex matches.

    Raises ``ValueError`` on construction for an invalid regex, an unknown quantizer name, a
    weight quantizer used for activations (or the reverse), a bit width the quantizer does not
    allow, an unknown granularity or calibration, or an option the quantizer does not take.
    """

    # --- Key -----------------------------------------------------------------------------------
    # Regex matched with re.search against the "/"-joined parameter path, e.g. r"Dense_\d/kernel$".
    path_regex: str = ".*"

    # --- Weights -------------------------------------------------------------------------------
    # A QUANTIZERS name ("uniform", "lsq", "twn", ...) or None to keep the weights in float.
    weight: str | None = None
    # Weight bit width; must be one the quantizer allows (e.g. 2 for "twn", 1 for "bwn").
    weight_bits: int = 8
    # Symmetric grid; False: asymmetric ("uniform": min-max zero point; "lsq": min offset).
    weight_symmetric: bool = True
    # "per_tensor" (layer-wise), "per_channel" (one scale per index of weight_axis; axis=0 is
    # row-wise for an embedding) or "per_group".
    weight_granularity: str = "per_tensor"
    # Channel axis (or axes) for per_channel; the grouped axis for per_group. -1: output channels.
    weight_axis: int | tuple[int, ...] = -1
    # Elements per group along weight_axis (per_group only).
    weight_group_size: int | None = None
    # Range calibration of "uniform": "minmax", "percentile[,P]" or "mse[,N]".
    weight_calibration: str = "minmax"

    # --- Activations (the input of the matched layer) ------------------------------------------
    # A QUANTIZERS name for the layer input ("pact", "lsq", "uniform", ...) or None.
    act: str | None = None
    # Activation bit width.
    act_bits: int = 8
    # Symmetric grid; False for post-softmax / post-GeLU activations (asymmetric "uniform"/"lsq").
    act_symmetric: bool = True
    # Range calibration of "uniform" activations: "minmax", "percentile[,P]" or "mse[,N]".
    act_calibration: str = "minmax"

    def __post_init__(self):
        where = f"QuantRule(path_regex={self.path_regex!r})"
        if not isinstance(self.path_regex, str):
            raise ValueError(f"{where}: path_regex must be a string.")
        try:
            re.compile(self.path_regex)
        except re.error as e:
            raise ValueError(f"{where}: invalid regex: {e}") from e
        for side, kinds, fields in (
            ("weight", ("weight", "any"), _WEIGHT_FIELDS),
            ("act", ("activation", "any"), _ACT_FIELDS),
        ):
            self._check_side(where, side, kinds, fields)

    def _check_side(self, where: str, side: str, kinds: tuple[str, ...], fields: dict) -> None:
        name, bits = getattr(self, side), getattr(self, f"{side}_bits")
        try:
            parse_calibration(getattr(self, f"{side}_calibration"))
            granularity = getattr(self, f"{side}_granularity", "per_tensor")
            if granularity not in GRANULARITIES:
                raise ValueError(
                    f"unknown {side}_granularity {granularity!r}; valid: {list(GRANULARITIES)}."
                )
            if name is None:
                check_bits(bits, name=f"{side}_bits")
                return
            spec = get_quantizer(name)
            if spec.kind not in kinds:
                raise ValueError(
                    f"{name!r} is a {spec.kind} quantizer and cannot be the {side} quantizer."
                )
            spec.check_bits(bits, name=f"{side}_bits of {name!r}")
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for field, option in fields.items():
                value = getattr(self, field)
                if value != defaults[field] and option not in spec.options:
                    raise ValueError(
                        f"{field}={value!r} is not used by {name!r}, which takes "
                        f"{list(spec.options)}."
                    )
            if "granularity" in spec.options and granularity not in spec.granularities:
                raise ValueError(
                    f"{name!r} supports {side}_granularity in {list(spec.granularities)}; got "
                    f"{granularity!r}."
                )
            if granularity == "per_group":
                size = self.weight_group_size
                if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                    raise ValueError(f"per_group needs a positive weight_group_size; got {size!r}.")
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from e

    def _options(self, side: str, fields: dict) -> dict[str, Any]:
        name = getattr(self, side)
        if name is None:
            return {}
        spec = get_quantizer(name)
        return {opt: getattr(self, f) for f, opt in fields.items() if opt in spec.options}

    def weight_options(self) -> dict[str, Any]:
        """Keyword options for ``apply_quantizer``/``init_quantizer_params`` of the weight."""
        return self._options("weight", _WEIGHT_FIELDS)

    def act_options(self) -> dict[str, Any]:
        """Keyword options for ``apply_quantizer``/``init_quantizer_params`` of the input."""
        return self._options("act", _ACT_FIELDS)

    @property
    def bits(self) -> int | None:
        """The stored weight width (``None``: float), so ``cost.model_bytes`` accepts rules."""
        return self.weight_bits if self.weight is not None else None
