"""Named rule presets: the quantization settings the theses and our reproductions use.

A preset is a list of :class:`QuantRule` (first match wins): optional 8-bit rules for the layers
kept at higher precision (first conv / classifier, following LSQ and TernaryBERT), optional row-wise
rules for embeddings, then the preset's rule for every other ``kernel``/``embedding``.

Example:
    >>> rules = preset_rules("lsq_w4a4", keep_8bit_regex=r"^conv1/|^linear/")
    >>> [(r.path_regex, r.weight, r.weight_bits, r.act, r.act_bits) for r in rules]
    [('^conv1/|^linear/', 'uniform', 8, 'uniform', 8), ('(kernel|embedding)$', 'lsq', 4, 'lsq', 4)]
"""

from __future__ import annotations

from typing import Any

from efficient_jax.qat._rules import QuantRule

_UNIFORM_W = dict(weight="uniform", weight_granularity="per_channel")
_UNIFORM_A = dict(act="uniform", act_symmetric=False)

# name -> QuantRule fields for the bulk of the layers.
PRESETS: dict[str, dict[str, Any]] = {
    # Post-training (calibrated round-to-nearest) presets.
    "w8a8": {**_UNIFORM_W, "weight_bits": 8, **_UNIFORM_A, "act_bits": 8},
    "w4a8": {**_UNIFORM_W, "weight_bits": 4, **_UNIFORM_A, "act_bits": 8},
    "w4a4": {**_UNIFORM_W, "weight_bits": 4, **_UNIFORM_A, "act_bits": 4},
    "w8": {**_UNIFORM_W, "weight_bits": 8},
    "w4": {**_UNIFORM_W, "weight_bits": 4},
    # Quantization-aware training presets (learned steps / ternary / binary weights).
    "lsq_w4a4": {"weight": "lsq", "weight_bits": 4, "act": "lsq", "act_bits": 4},
    "lsq_w4a8": {"weight": "lsq", "weight_bits": 4, "act": "lsq", "act_bits": 8},
    "lsq_w2a8": {"weight": "lsq", "weight_bits": 2, "act": "lsq", "act_bits": 8},
    "twn_a8": {"weight": "twn", "weight_bits": 2, **_UNIFORM_A, "act_bits": 8},
    "bwn_a8": {"weight": "bwn", "weight_bits": 1, **_UNIFORM_A, "act_bits": 8},
}

BULK_REGEX = "(kernel|embedding)$"


def preset_rules(
    name: str,
    *,
    keep_8bit_regex: str | None = None,
    rowwise_embedding_regex: str | None = None,
) -> list[QuantRule]:
    """The rule list of preset ``name``.

    Args:
      name: one of :data:`PRESETS`.
      keep_8bit_regex: parameters matched here get uniform W8A8 instead (e.g. the first conv and
        the classifier); ``None``/``""`` keeps none.
      rowwise_embedding_regex: embeddings matched here get the preset's weight quantizer row-wise
        (one scale per vocabulary row, as TernaryBERT), weights only.

    Raises:
      ValueError: for an unknown preset name.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown quantization preset {name!r}; valid: {sorted(PRESETS)}.")
    rules = []
    if keep_8bit_regex:
        rules.append(
            QuantRule(
                path_regex=keep_8bit_regex, **PRESETS["w8a8"] | {"weight_granularity": "per_tensor"}
            )
        )
    bulk = PRESETS[name]
    if rowwise_embedding_regex:
        fields = {k: v for k, v in bulk.items() if k.startswith("weight")}
        if fields["weight"] in ("uniform", "twn", "bwn", "lsq"):
            fields |= {"weight_granularity": "per_channel", "weight_axis": 0}
        rules.append(QuantRule(path_regex=rowwise_embedding_regex, **fields))
    rules.append(QuantRule(path_regex=BULK_REGEX, **bulk))
    return rules
