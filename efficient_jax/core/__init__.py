"""Pytree paths, regex rules (first match wins) and name registries."""

from efficient_jax.core._paths import map_with_path_str, match_rules, path_strings, path_to_str
from efficient_jax.core._registry import Registry

__all__ = ["Registry", "map_with_path_str", "match_rules", "path_strings", "path_to_str"]
