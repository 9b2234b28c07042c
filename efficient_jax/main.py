"""Entry point: ``python -m efficient_jax.main --config=configs/x.py[:arg] --workdir=DIR``.

This file is intentionally kept short: it parses flags, sets up multi-host JAX and dispatches to
the ``train_and_evaluate(config, workdir)`` of the trainer registered as ``config.trainer`` (see
:func:`efficient_jax.trainers.get_trainer`), where the logic lives (importable from notebooks).
Overrides: ``--config.num_steps=100``; an unknown key fails with the list of valid keys.
"""

import logging
import sys

import jax
from absl import app, flags
from ml_collections import config_flags

from efficient_jax import core, parallel, trainers

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and results.")
flags.mark_flags_as_required(["config", "workdir"])


def _parse_flags(argv: list[str]) -> list[str]:
    spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    if spec is not None:
        try:
            core.check_overrides(argv, core.load_config(spec))
        except (ValueError, FileNotFoundError) as e:
            raise app.UsageError(str(e)) from e
    return flags.FLAGS(argv)


def _quiet_libraries(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or "orbax" not in record.pathname


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.getLogger("efficient_jax").setLevel(logging.INFO)
    logging.getLogger("absl").addFilter(_quiet_libraries)
    parallel.maybe_initialize_distributed()
    config = _CONFIG.value
    logging.info(
        "process %d/%d, devices: %s", jax.process_index(), jax.process_count(), jax.devices()
    )
    name = config.get("trainer")
    if name not in trainers.TRAINERS:
        raise app.UsageError(f"Unknown trainer {name!r}; valid: {trainers.available_trainers()}.")
    trainers.get_trainer(name).train_and_evaluate(config, _WORKDIR.value)


def run() -> None:
    """Console entry point (also used by ``python -m efficient_jax.main``)."""
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    sys.exit(run())
