"""Which kernels to share and with how many clusters: rules, cluster rates, target CRs.

``clusters`` is a rule list ``[(regex, K | cluster_rate | None), ...]`` on parameter paths (first
match wins) or a dict ``{path: K}``. Under a row layout (``"row"``, ``"filter"``, ``"kernel"``)
only 4-D HWIO conv kernels can be shared: a rule that also selects a dense kernel or a bias (e.g.
``kernel$`` on a CNN with a classifier) is an error that names the layers and suggests a narrower
rule that selects only the conv kernels of *these* params, or ``layout="scalar"``, which shares
every weight of a kernel of any shape.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"conv": {"kernel": jnp.ones((3, 3, 2, 4))}, "fc": {"kernel": jnp.ones((8, 2))}}
    >>> resolve_clusters(params, [(r"conv", 0.5)])
    {'conv/kernel': 12}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from efficient_jax.core import match_rules, path_strings
from efficient_jax.share._codebook import check_layout, num_rows
from efficient_jax.share._coding import fixed_index_bits
from efficient_jax.types import Params

# Clusters: a rule list [(regex, K | cluster_rate | None), ...] (first match wins) or {path: K}.
Clusters = Sequence[tuple[str, Any]] | Mapping[str, int]
_is_none = lambda x: x is None  # noqa: E731


def _first_rule(path: str, clusters: Clusters) -> Any:
    if isinstance(clusters, Mapping):
        return None
    for rule in clusters:
        regex = rule[0] if isinstance(rule, tuple) else getattr(rule, "path_regex", None)
        if regex is not None and re.search(regex, path):
            return rule
    return None


def _narrower_rule(leaves: dict[str, Any], keep: list[str]) -> str:
    """A regex that matches every path in ``keep`` and no leaf that is not 4-D."""
    bad = [p for p, x in leaves.items() if getattr(x, "ndim", 0) != 4]
    alternation = "|".join(re.escape(p) for p in keep)
    candidates = [r"conv.*kernel$", r"(?i)conv.*kernel$", r"(?i)conv", rf"^(?:{alternation})$"]
    for rx in candidates:
        if all(re.search(rx, p) for p in keep) and not any(re.search(rx, p) for p in bad):
            return rx
    return candidates[-1]


def _check_row_layout(leaves: dict[str, Any], chosen: dict, clusters: Clusters, layout: str):
    """ValueError naming every selected leaf that a row layout cannot share (not 4-D)."""
    bad = [p for p in chosen if getattr(leaves[p], "ndim", 0) != 4]
    if not bad:
        return
    keep = [p for p in chosen if p not in bad]
    what = ", ".join(f"{p!r} (shape {tuple(leaves[p].shape)})" for p in bad)
    rule = _first_rule(bad[0], clusters)
    by = f"cluster rule {rule!r}" if rule is not None else "the clusters dict"
    value = chosen[bad[0]]
    narrower = (
        f"a narrower rule that selects only the conv kernels, e.g. "
        f"[({_narrower_rule(leaves, keep)!r}, {value!r})]"
        if keep
        else "a rule that selects only 4-D conv kernels"
    )
    raise ValueError(
        f"Layer{'s' if len(bad) > 1 else ''} {what} {'are' if len(bad) > 1 else 'is'} selected "
        f"by {by}, but the {layout!r} layout shares rows of 4-D HWIO conv kernels "
        f"(kh, kw, cin, cout) only. Use {narrower}, or layout='scalar' (every weight is one "
        "point; shares conv and dense kernels alike)."
    )


def resolve_clusters(params: Params, clusters: Clusters, layout: str = "row") -> dict[str, int]:
    """``{leaf path: K}`` for the leaves to share.

    Rule values: an int ``K >= 1``, a float cluster rate ``K/N`` in ``(0, 1]`` or ``None`` (not
    shared). A dict maps paths to K directly. ``N`` is the number of points of the leaf in
    ``layout``: its rows (row layouts, 4-D conv kernels only) or its weights (``"scalar"``).

    Raises:
      ValueError: for an unknown layout; if a selected leaf is not a 4-D conv kernel under a row
        layout or K is outside ``1..N`` (the message names the layer and suggests a narrower
        rule or ``layout="scalar"``); if a dict names a path that does not exist, or nothing is
        selected.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"conv": {"kernel": jnp.ones((3, 3, 2, 4))}}
        >>> params["fc"] = {"kernel": jnp.ones((8, 2))}
        >>> resolve_clusters(params, [(r"kernel$", 16)], layout="scalar")
        {'conv/kernel': 16, 'fc/kernel': 16}
        >>> resolve_clusters(params, [(r"kernel$", 16)])
        Traceback (most recent call last):
        ...
        ValueError: Layer 'fc/kernel' (shape (8, 2)) is selected by cluster rule ... or
        layout='scalar' (every weight is one point; shares conv and dense kernels alike).
    """
    check_layout(layout)
    leaves = dict(zip(path_strings(params), jax.tree.leaves(params), strict=True))
    if isinstance(clusters, Mapping):
        chosen = dict(clusters)
        for p in chosen:
            if p not in leaves:
                raise ValueError(f"Unknown parameter path {p!r}; known: {sorted(leaves)}.")
    else:
        matched = jax.tree.leaves(
            match_rules(params, list(clusters), name="cluster rule"), is_leaf=_is_none
        )
        chosen = {p: v for p, v in zip(leaves, matched, strict=True) if v is not None}
    if not chosen:
        raise ValueError(f"No parameter is selected for sharing by {clusters!r}.")
    if layout != "scalar":
        _check_row_layout(leaves, chosen, clusters, layout)
    out = {}
    for path, value in chosen.items():
        shape = tuple(leaves[path].shape)
        try:
            n, _ = num_rows(shape, layout)
        except ValueError as e:
            raise ValueError(f"Parameter {path!r}: {e}") from None
        if isinstance(value, float):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{path!r}: cluster rate must be in (0, 1]; got {value}.")
            k = max(1, round(value * n))
        else:
            k = value
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
            hint = ""
            if layout != "scalar" and isinstance(k, int) and k > n:
                hint = (
                    f" The {layout!r} layout gives this layer of shape {shape} only {n} points; "
                    f"use a smaller K, a narrower rule that leaves it out, or layout='scalar' "
                    f"(every weight one point: N = {math.prod(shape)})."
                )
            raise ValueError(
                f"{path!r}: K must be an int in 1..N = {n} (its number of "
                f"{'weights' if layout == 'scalar' else 'rows'}); got {value!r}.{hint}"
            )
        jnp_leaf = leaves[path]
        if not isinstance(jnp_leaf, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(jnp_leaf))):
            raise ValueError(f"{path!r} contains NaN or inf weights; cannot share it.")
        out[path] = k
    return out


def layer_ratio(n: int, s: int, k: int, weight_bits: int = 32) -> float:
    """Per-layer CR with fixed-length indices: ``N·s·b / (K·s·b + N·⌈log2 K⌉)``."""
    return n * s * weight_bits / (k * s * weight_bits + n * fixed_index_bits(k))


def clusters_for_ratio(
    params: Params,
    target: float,
    *,
    layout: str = "row",
    first_layer_target: float | None = None,
    rules: Sequence[tuple[str, Any]] = ((r".*", True),),
) -> dict[str, int]:
    """The largest K per conv kernel whose fixed-index layer CR is at least ``target``.

    Every 4-D kernel matched by ``rules`` is shared at the same layer CR ("uniform parameter
    sharing") except the first one, whose cluster rate is higher: its target is
    ``first_layer_target`` (default ``min(target, 2)``; the first layer is tiny and sensitive).
    With ``layout="scalar"`` every matched kernel of 2 or more dimensions (conv and dense) is
    shared; other leaves (biases, BatchNorm) are skipped under every layout.

    Raises:
      ValueError: for an unknown layout, if ``target <= 1`` or a layer cannot reach its target
        even with K = 1.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"conv": {"kernel": jnp.ones((3, 3, 8, 8))}}
        >>> params["fc"] = {"kernel": jnp.ones((64, 10))}
        >>> clusters_for_ratio(params, 8.0, first_layer_target=8.0)
        {'conv/kernel': 16}
        >>> clusters_for_ratio(params, 8.0, first_layer_target=8.0, layout="scalar")
        {'conv/kernel': 8, 'fc/kernel': 8}
    """
    check_layout(layout)
    if not target > 1:
        raise ValueError(f"target compression ratio must be > 1; got {target}.")
    selected = jax.tree.leaves(match_rules(params, list(rules)), is_leaf=_is_none)
    out: dict[str, int] = {}
    for path, leaf, sel in zip(
        path_strings(params), jax.tree.leaves(params), selected, strict=True
    ):
        ndim = getattr(leaf, "ndim", 0)
        if not sel or (ndim < 2 if layout == "scalar" else ndim != 4):
            continue
        goal = target if out else (first_layer_target or min(target, 2.0))
        n, s = num_rows(tuple(leaf.shape), layout)
        ks = [k for k in range(1, n + 1) if layer_ratio(n, s, k) >= goal]
        if not ks:
            raise ValueError(f"{path!r}: CR {goal} is unreachable (N={n} rows of {s}).")
        out[path] = max(ks)
    if not out:
        what = "kernel of 2 or more dimensions" if layout == "scalar" else "4-D conv kernel"
        raise ValueError(f"No {what} found to share.")
    return out
