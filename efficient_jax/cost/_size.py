"""Parameter counts and model sizes in bytes, at the stored or at a hypothetical bit width.

:func:`model_bytes` answers "how large would these params be at ``b`` bits?" from shapes alone
(each leaf ``ceil(numel * bits / 8)`` bytes), with ``bits`` one width, a pytree of widths or regex
rules on parameter paths (first match wins). :func:`model_bytes_from_tree` measures what is really
stored, e.g. a pytree of packed quantized codes and their scales.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"conv": {"kernel": jnp.ones((3, 3, 8, 16))}, "head": {"w": jnp.ones((16, 10))}}
    >>> count_params(params), count_params(params, [r"conv/"])
    (1312, 1152)
    >>> model_bytes(params), model_bytes(params, bits=[(r"conv/", 2)])
    (5248, 928)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from efficient_jax.core import match_rules, path_to_str
from efficient_jax.types import PyTree

# Bits = int | PyTree of ints | [(regex, int), ...]
Bits = Any


def _numel(x: Any) -> int:
    return math.prod(np.shape(x) if not hasattr(x, "shape") else x.shape)


def _is_rule_list(x: Any) -> bool:
    """``[(regex, bits), ...]`` or a list of rule objects with ``path_regex`` and ``bits``."""
    return (
        isinstance(x, list | tuple)
        and len(x) > 0
        and all(
            (isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], str))
            or (hasattr(r, "path_regex") and hasattr(r, "bits"))
            for r in x
        )
    )


def _rule_bits(rule: Any) -> int | None:
    value = rule[1] if isinstance(rule, tuple) else rule.bits
    return None if value is None else _check_bits(value, f"rule {rule!r}")


def count_params(params: PyTree, rules: Sequence[Any] | None = None) -> int:
    """Counts the scalars in ``params`` (arrays or :class:`jax.ShapeDtypeStruct` leaves).

    Args:
      params: a pytree of arrays, e.g. ``variables["params"]``.
      rules: optional selection: regex strings or ``(regex, flag)`` tuples matched against each
        leaf's ``/``-joined path, first match wins. A leaf is counted if its first matching rule is
        a plain string or has a truthy flag, so ``[("bias", False), (".*", True)]`` counts all but
        biases. ``None`` counts every leaf.

    Example:
        >>> import jax.numpy as jnp
        >>> count_params({"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, [("b", False), (".*", True)])
        6
    """
    leaves = jax.tree.leaves(params)
    if rules is None:
        return sum(_numel(x) for x in leaves)
    rules = [(r, True) if isinstance(r, str) else r for r in rules]
    selected = jax.tree.leaves(
        match_rules(params, rules, name="count_params rule"), is_leaf=lambda x: x is None
    )
    return sum(_numel(x) for x, keep in zip(leaves, selected, strict=True) if keep)


def dtype_bits(dtype: Any) -> int:
    """Storage width of one element of ``dtype`` in bits (4 for ``int4``, 16 for ``bfloat16``)."""
    dtype = np.dtype(dtype)
    for info in (jax.numpy.finfo, jax.numpy.iinfo):
        try:
            return int(info(dtype).bits)
        except ValueError:
            pass
    return 8 * dtype.itemsize


def _check_bits(bits: Any, where: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 1 <= bits <= 32:
        raise ValueError(f"bits must be an integer in 1..32; got {bits!r} for {where}.")
    return int(bits)


def _leaf_bits(params: PyTree, bits: Bits) -> list[int]:
    """One width per leaf of ``params``, in flatten order."""
    leaves_with_path = jax.tree_util.tree_flatten_with_path(params)[0]
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(bits)) and bits is not None:
        b = _check_bits(bits, "all parameters")
        return [b] * len(leaves_with_path)
    if _is_rule_list(bits):
        for r in bits:  # validate every rule up front, matched or not
            _rule_bits(r)
        matched = jax.tree.leaves(
            match_rules(params, bits, name="model_bytes rule"), is_leaf=lambda x: x is None
        )
        widths = [m.bits if hasattr(m, "path_regex") else m for m in matched]
        return [
            dtype_bits(x.dtype) if w is None else int(w)
            for (_, x), w in zip(leaves_with_path, widths, strict=True)
        ]
    if bits is None:
        raise ValueError(
            f"bits must be an int in 1..32, a pytree of such ints matching params, or a rule list "
            f"[(regex, bits), ...]; got {bits!r}."
        )
    try:
        per_leaf = jax.tree.structure(params).flatten_up_to(bits)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"bits pytree does not match the structure of params ({e}); pass an int, a pytree "
            f"with one int per parameter leaf, or a rule list [(regex, bits), ...]."
        ) from e
    return [
        _check_bits(b, path_to_str(p)) for (p, _), b in zip(leaves_with_path, per_leaf, strict=True)
    ]


def model_bytes(params: PyTree, bits: Bits = 32, *, overhead_bytes_per_leaf: int = 0) -> int:
    """Bytes needed to store ``params`` at the given bit width(s), packed densely.

    Each leaf takes ``ceil(numel * bits / 8)`` bytes plus ``overhead_bytes_per_leaf`` (the caller's
    estimate of scales, zero points or codebook metadata; default none). Only shapes are read, so
    :class:`jax.ShapeDtypeStruct` leaves work.

    Args:
      params: a pytree of arrays.
      bits: one of
        - an int in 1..32 for every leaf;
        - a pytree of ints with the structure of ``params``;
        - a rule list ``[(regex, bits), ...]`` on the ``/``-joined leaf paths, first match wins
          (or rule objects with ``path_regex`` and ``bits`` fields); leaves no rule matches, or
          whose rule says ``None``, keep the width of their dtype.
      overhead_bytes_per_leaf: bytes added for every leaf.

    Raises:
      ValueError: if a width is not an integer in 1..32, the pytree of widths does not match
        ``params``, or ``overhead_bytes_per_leaf`` is negative.

    Example:
        >>> import jax.numpy as jnp
        >>> model_bytes({"w": jnp.ones((3, 5)), "b": jnp.ones(5)}, bits={"w": 1, "b": 32})
        22
    """
    if isinstance(overhead_bytes_per_leaf, bool) or overhead_bytes_per_leaf < 0:
        raise ValueError(
            f"overhead_bytes_per_leaf must be a non-negative int; got {overhead_bytes_per_leaf!r}."
        )
    leaves = jax.tree.leaves(params)
    widths = _leaf_bits(params, bits)
    return sum(
        -(-_numel(x) * b // 8) + int(overhead_bytes_per_leaf)
        for x, b in zip(leaves, widths, strict=True)
    )


def model_bytes_from_tree(tree: PyTree) -> int:
    """Sums the actual storage (``.nbytes``) of every array leaf of ``tree``.

    Use it for compressed pytrees (packed codes, scales, codebooks): registered pytree classes are
    flattened to their array leaves. Non-array leaves (Python numbers, strings) count zero.
    :class:`jax.ShapeDtypeStruct` leaves count ``size * itemsize``.

    Example:
        >>> import numpy as np
        >>> model_bytes_from_tree({"codes": np.zeros(10, np.uint8), "scale": np.float32(1.0)})
        14
    """
    total = 0
    for x in jax.tree.leaves(tree):
        if isinstance(x, jax.ShapeDtypeStruct):
            total += _numel(x) * np.dtype(x.dtype).itemsize
        elif hasattr(x, "nbytes") and hasattr(x, "dtype"):
            total += int(x.nbytes)
    return total
