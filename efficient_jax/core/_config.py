"""Config files (``get_config(arg) -> ConfigDict``), their ``path:arg`` spec and override checks.

A config is a Python file exposing ``get_config(arg=None)``; ``--config=configs/x.py:runlocal``
passes ``"runlocal"`` as ``arg``. :func:`parse_arg` turns ``"a=1,b=x,flag"`` into typed fields with
defaults.

Example:
    >>> parse_arg("runlocal,steps=10", runlocal=False, steps=100, name="a")
    {'runlocal': True, 'steps': 10, 'name': 'a'}
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import ml_collections


def parse_arg(arg: str | None, **defaults: Any) -> dict[str, Any]:
    """Parses ``"k=v,flag"`` config args, typed after ``defaults``; bare ``flag`` means ``True``.

    Raises:
      ValueError: for a key that has no default (the message lists the valid ones).
    """
    out = dict(defaults)
    for item in filter(None, (arg or "").split(",")):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in defaults:
            raise ValueError(f"Unknown config arg {key!r}; valid: {sorted(defaults)}.")
        default = defaults[key]
        if not _:
            out[key] = True
        elif isinstance(default, bool):
            out[key] = value.lower() in ("1", "true", "yes", "y")
        elif isinstance(default, int | float):
            out[key] = type(default)(value)
        else:
            out[key] = value
    return out


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads ``path.py[:arg]`` by calling its ``get_config(arg)``.

    Raises:
      FileNotFoundError: if the file does not exist.
      ValueError: if it has no ``get_config``.
    """
    path, _, arg = spec.partition(":")
    file = pathlib.Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Config file {path!r} not found (cwd: {pathlib.Path.cwd()}).")
    module_spec = importlib.util.spec_from_file_location(f"_ej_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"Config file {path!r} defines no get_config(arg=None).")
    return module.get_config(arg or None) if arg else module.get_config()


def config_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Every dotted key of a (nested) ConfigDict, leaves and sub-dicts alike."""
    keys = []
    for k, v in config.items():
        keys.append(prefix + k)
        if isinstance(v, ml_collections.ConfigDict):
            keys += config_keys(v, prefix + k + ".")
    return keys


_OVERRIDE = re.compile(r"^--config\.([\w.]+)(=|$)")


def check_overrides(argv: Sequence[str], config: ml_collections.ConfigDict) -> None:
    """Checks that every ``--config.k=v`` in ``argv`` names an existing key.

    Raises:
      ValueError: for an unknown key, listing the valid keys.
    """
    valid = set(config_keys(config))
    for a in argv:
        m = _OVERRIDE.match(a)
        if m and m.group(1) not in valid:
            raise ValueError(
                f"Unknown config key {m.group(1)!r} in {a!r}. Valid keys: {sorted(valid)}."
            )
