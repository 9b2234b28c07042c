"""Run outputs in a workdir: JSON-lines metrics, the resolved config and the final results.

Files (written by process 0 only; ``config.json`` and ``results.json`` atomically):
``workdir/metrics.jsonl`` (one JSON object per logged step), ``workdir/config.json``,
``workdir/results.json`` (flat keys, numbers).

Example:
    >>> import tempfile
    >>> w = MetricWriter(tempfile.mkdtemp())
    >>> w.write_scalars(10, {"loss": 0.5})
    >>> w.write_results({"test_accuracy": 0.9})
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import tempfile
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

log = logging.getLogger("efficient_jax")


def _to_builtin(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_builtin(v) for v in value]
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        arr = np.asarray(value)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Writes ``obj`` as JSON to ``path`` via a temporary file and ``os.replace``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(_to_builtin(obj), f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def read_metrics(workdir: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads ``workdir/metrics.jsonl`` back as a list of dicts."""
    path = pathlib.Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricWriter:
    """Appends scalars to ``metrics.jsonl`` and writes ``config.json``/``results.json``.

    Args:
      workdir: run directory (created if missing).
      log_to_console: also log each ``write_scalars`` call as one line.
    """

    def __init__(self, workdir: str | os.PathLike, *, log_to_console: bool = True):
        self.workdir = pathlib.Path(workdir)
        self.active = jax.process_index() == 0
        self.log_to_console = log_to_console
        if self.active:
            self.workdir.mkdir(parents=True, exist_ok=True)

    def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
        if not self.active:
            return
        row = {"step": int(step), **_to_builtin(dict(scalars))}
        with open(self.workdir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.log_to_console:
            body = ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in row.items()
                if k != "step"
            )
            log.info("step %d: %s", step, body)

    def write_config(self, config: Any) -> None:
        if not self.active:
            return
        as_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
        write_json_atomic(self.workdir / "config.json", as_dict)

    def write_results(self, results: Mapping[str, Any]) -> None:
        if not self.active:
            return
        write_json_atomic(self.workdir / "results.json", dict(results))
