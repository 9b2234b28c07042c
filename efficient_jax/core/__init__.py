"""Pytree paths, regex rules (first match wins) and name registries."""

from efficient_jax.core._compressors import CompressionResult
from efficient_jax.core._config import check_overrides, config_keys, load_config, parse_arg
from efficient_jax.core._paths import map_with_path_str, match_rules, path_strings, path_to_str
from efficient_jax.core._registry import Registry

__all__ = [
    "CompressionResult",
    "check_overrides",
    "config_keys",
    "load_config",
    "parse_arg",
    "Registry",
    "map_with_path_str",
    "match_rules",
    "path_strings",
    "path_to_str",
]
