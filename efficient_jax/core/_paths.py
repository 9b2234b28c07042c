"""Pytree paths as strings, and regex rules on them (first match wins).

One mechanism selects layers for quantization, sharing, pruning, freezing and sharding: a list of
rules, each with a ``path_regex`` matched with :func:`re.search` against the ``/``-joined path of a
leaf (``"params/Conv_0/kernel"``). The first rule that matches a leaf wins; leaves no rule matches
get ``None``.

Example:
    >>> import jax.numpy as jnp
    >>> params = {"Dense_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.zeros(3)}}
    >>> path_strings(params)
    ['Dense_0/bias', 'Dense_0/kernel']
    >>> match_rules(params, [(".*kernel", "w")])
    {'Dense_0': {'bias': None, 'kernel': 'w'}}
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax

from efficient_jax.types import PyTree


def _key_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def path_to_str(path: Sequence[Any]) -> str:
    """Joins a ``jax.tree_util`` key path into ``"a/b/c"``."""
    return "/".join(_key_name(p) for p in path)


def path_strings(tree: PyTree) -> list[str]:
    """Lists the ``/``-joined path of every leaf, in tree-flatten order."""
    return [path_to_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def map_with_path_str(fn: Callable[[str, Any], Any], tree: PyTree, *rest: PyTree) -> PyTree:
    """Like :func:`jax.tree.map` but ``fn`` receives the leaf's path string first."""
    return jax.tree_util.tree_map_with_path(lambda p, x, *r: fn(path_to_str(p), x, *r), tree, *rest)


def _rule_regex(rule: Any) -> str:
    if isinstance(rule, tuple):
        return rule[0]
    if hasattr(rule, "path_regex"):
        return rule.path_regex
    raise ValueError(
        f"A rule must be a (regex, value) tuple or have a `path_regex` field; got {rule!r}."
    )


def _rule_value(rule: Any) -> Any:
    return rule[1] if isinstance(rule, tuple) else rule


def match_rules(
    tree: PyTree, rules: Sequence[Any], *, warn_unused: bool = True, name: str = "rule"
) -> PyTree:
    """Assigns to each leaf the value of the first rule whose regex matches its path.

    Args:
      tree: any pytree (usually params).
      rules: ``(regex, value)`` tuples or objects with a ``path_regex`` attribute (the object is the
        value). Regexes use :func:`re.search`.
      warn_unused: warn (listing the existing paths) for a rule that matches no leaf.
      name: what to call a rule in messages.

    Returns:
      A pytree of the same structure with the matched value (or ``None``) at each leaf.

    Raises:
      ValueError: if a regex does not compile.
    """
    compiled = []
    for rule in rules:
        regex = _rule_regex(rule)
        try:
            compiled.append((re.compile(regex), _rule_value(rule)))
        except re.error as e:
            raise ValueError(f"Invalid regex {regex!r} in {name} {rule!r}: {e}") from e
    used = [False] * len(compiled)

    def pick(path: str, _):
        for i, (rx, value) in enumerate(compiled):
            if rx.search(path):
                used[i] = True
                return value
        return None

    out = map_with_path_str(pick, tree)
    if warn_unused:
        for i, u in enumerate(used):
            if not u:
                warnings.warn(
                    f"{name} {rules[i]!r} matches no parameter; existing paths: "
                    f"{path_strings(tree)}",
                    stacklevel=2,
                )
    return out
