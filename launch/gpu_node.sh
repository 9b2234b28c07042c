#!/usr/bin/env bash
# Runs one experiment on a single node with all of its (visible) GPUs: one process, one device per
# GPU, data-parallel over the "data" mesh axis.
#
# Usage:
#   launch/gpu_node.sh --config=configs/<experiment>.py --workdir=/path/to/<run> [--config.key=value ...]
#   CUDA_VISIBLE_DEVICES=0,1 launch/gpu_node.sh ...        # restrict to some GPUs
#
# Setup (once): pip install -U "jax[cuda12]" && pip install -e .
#
# Environment:
#   PYTHON                          interpreter (default: python)
#   XLA_PYTHON_CLIENT_MEM_FRACTION  share of GPU memory JAX preallocates (default here: 0.90)
#   CUDA_VISIBLE_DEVICES            passed through unchanged (default: all GPUs)
# All arguments are passed through to `python -m efficient_jax.main`.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
export PYTHONPATH="${REPO_DIR}${PYTHONPATH:+:${PYTHONPATH}}"

# JAX preallocates 75% by default; 90% leaves room for the CUDA context and cuDNN workspaces.
export XLA_PYTHON_CLIENT_MEM_FRACTION="${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.90}"
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  export CUDA_VISIBLE_DEVICES
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "GPUs (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-all}):" >&2
  nvidia-smi -L >&2 || true
fi

exec "${PYTHON}" -m efficient_jax.main "$@"
