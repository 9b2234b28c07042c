#!/usr/bin/env bash
# Runs one experiment on this machine (CPU, or the local GPU/TPU if JAX sees one).
#
# Usage:
#   launch/local.sh --config=configs/<experiment>.py[:runlocal] --workdir=/tmp/<run> [--config.key=value ...]
#
# Environment:
#   PYTHON   interpreter to use (default: python; e.g. PYTHON=/work/venv/bin/python)
#   EFFICIENT_JAX_DATA   data folder (default: ../shared/data next to the repo)
# All arguments are passed through to `python -m efficient_jax.main`.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
# Import the package from this checkout even if it is not pip-installed.
export PYTHONPATH="${REPO_DIR}${PYTHONPATH:+:${PYTHONPATH}}"

exec "${PYTHON}" -m efficient_jax.main "$@"
