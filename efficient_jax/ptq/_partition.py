"""Partition a transformer's parameter tree into N modules of consecutive layers (MREM).

MREM (Bai 2021, thesis Ch. 4, §4.3.1) splits a model with L Transformer layers into N modules of
consecutive layers; the embedding belongs to the first module and the classification head to the
last. The partition is expressed with the library's rules mechanism: one anchored regex per module,
matched against ``/``-joined parameter paths, so the same object splits the float parameters, the
fake-quant ``quant`` leaves and the ``quant_stats`` of a :func:`~efficient_jax.qat.prepare` tree
(all nested by layer path).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import TinyBert
    >>> model = TinyBert(vocab_size=50, hidden_size=16, num_layers=4, intermediate_size=32)
    >>> params = model.init(jax.random.key(0), jnp.ones((1, 4), jnp.int32))["params"]
    >>> part = partition_modules(params, 2)
    >>> part.layers
    ((0, 1), (2, 3))
    >>> [sorted(p) for p in part.split(params)][1]
    ['classifier', 'layer_2', 'layer_3', 'pooler']
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

from efficient_jax.core import match_rules, path_strings

LAYER_REGEX = r"^layer_(\d+)/"
EMBED_REGEX = r"^(word_embeddings|position_embeddings|token_type_embeddings|embeddings_LayerNorm)/"
HEAD_REGEX = r"^(pooler|classifier)/"


@dataclasses.dataclass(frozen=True)
class ModulePartition:
    """N modules of consecutive transformer layers, each selected by one path regex.

    Attributes:
      layers: the layer indices of each module, in order.
      regexes: one anchored regex per module (``re.search`` on ``/``-joined paths).
    """

    layers: tuple[tuple[int, ...], ...]
    regexes: tuple[str, ...]

    @property
    def num_modules(self) -> int:
        return len(self.layers)

    def module_of(self, path: str) -> int | None:
        """The module owning the parameter at ``path`` (first matching regex), or ``None``."""
        for k, regex in enumerate(self.regexes):
            if re.search(regex, path):
                return k
        return None

    def split(self, tree: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``tree`` (nested dicts keyed by layer path) cut into one subtree per module.

        Leaves no regex matches are dropped; use :func:`partition_modules` to check coverage.
        """
        return [_select(tree, lambda p, k=k: self.module_of(p) == k) for k in range(len(self))]

    def merge(self, parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The inverse of :meth:`split`: the union of the module subtrees."""
        if len(parts) != len(self):
            raise ValueError(f"merge needs {len(self)} module trees; got {len(parts)}.")
        out: dict[str, Any] = {}
        for part in parts:
            out = _deep_merge(out, part)
        return out

    def __len__(self) -> int:
        return len(self.layers)


def _select(tree: Mapping[str, Any], keep, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            sub = _select(value, keep, path + "/")
            if sub:
                out[key] = sub
        elif keep(path):
            out[key] = value
    return out


def _deep_merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if key in out and isinstance(out[key], Mapping) and isinstance(value, Mapping):
            out[key] = _deep_merge(out[key], value)
        elif key in out:
            raise ValueError(f"merge: parameter {key!r} appears in two modules.")
        else:
            out[key] = value
    return out


def balanced_layers(num_layers: int, num_modules: int) -> tuple[tuple[int, ...], ...]:
    """Consecutive layer groups of equal size (the first ``L mod N`` modules get one more).

    Raises:
      ValueError: ``num_modules`` is not in ``1..num_layers``.
    """
    if isinstance(num_modules, bool) or not isinstance(num_modules, int) or num_modules < 1:
        raise ValueError(f"num_modules must be a positive integer; got {num_modules!r}.")
    if num_modules > num_layers:
        raise ValueError(
            f"num_modules={num_modules} is larger than the number of transformer layers "
            f"({num_layers}); allowed: 1..{num_layers}."
        )
    size, extra = divmod(num_layers, num_modules)
    groups, start = [], 0
    for k in range(num_modules):
        n = size + (1 if k < extra else 0)
        groups.append(tuple(range(start, start + n)))
        start += n
    return tuple(groups)


def partition_modules(
    params: Mapping[str, Any],
    num_modules: int,
    *,
    layer_regex: str = LAYER_REGEX,
    embed_regex: str = EMBED_REGEX,
    head_regex: str = HEAD_REGEX,
) -> ModulePartition:
    """Partitions ``params`` into ``num_modules`` modules of consecutive layers (thesis §4.3.1).

    Args:
      params: the float parameter tree (``variables["params"]``).
      num_modules: N, ``1 <= N <= L``; layers are split evenly (first modules get the remainder).
      layer_regex: regex with one group capturing the layer index from a path.
      embed_regex: parameters of the embedding (go to module 0).
      head_regex: parameters of the head (go to module N-1).

    Returns:
      A :class:`ModulePartition` whose regexes cover every parameter exactly once.

    Raises:
      ValueError: no layers found, ``num_modules`` out of ``1..L``, layer indices not
        ``0..L-1``, or parameters matched by no module / by several modules (listed).
    """
    paths = path_strings(params)
    ids = sorted({int(m.group(1)) for p in paths if (m := re.search(layer_regex, p))})
    if not ids:
        raise ValueError(f"No transformer layers match layer_regex={layer_regex!r} in {paths[:8]}.")
    if ids != list(range(len(ids))):
        raise ValueError(f"Layer indices must be 0..L-1; found {ids}.")
    groups = balanced_layers(len(ids), num_modules)
    prefix = layer_regex.split("(")[0]
    regexes = []
    for k, group in enumerate(groups):
        alts = [f"{prefix}({'|'.join(map(str, group))})/"]
        if k == 0:
            alts.insert(0, embed_regex)
        if k == len(groups) - 1:
            alts.append(head_regex)
        regexes.append("|".join(f"(?:{a})" for a in alts))
    # Exact-once coverage, with the rules mechanism for the assignment.
    picked = path_strings(params)
    owners = match_rules(params, [(r, k) for k, r in enumerate(regexes)], name="module rule")
    flat = dict(zip(picked, _leaves(owners), strict=True))
    missing = [p for p, k in flat.items() if k is None]
    multi = [p for p in picked if sum(bool(re.search(r, p)) for r in regexes) > 1]
    if missing or multi:
        raise ValueError(
            f"Module partition must cover every parameter exactly once: unassigned {missing[:8]}, "
            f"in several modules {multi[:8]}. Adjust embed_regex={embed_regex!r} / "
            f"head_regex={head_regex!r}."
        )
    return ModulePartition(layers=groups, regexes=tuple(regexes))


def _leaves(tree: Any) -> list[Any]:
    import jax

    return jax.tree.leaves(tree, is_leaf=lambda x: x is None)
