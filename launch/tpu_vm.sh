#!/usr/bin/env bash
# Runs one experiment on every worker of a Cloud TPU VM (single host or pod slice). Each worker runs
# the same `python -m efficient_jax.main` command with EFFICIENT_JAX_DISTRIBUTED=1, so the library's
# main calls jax.distributed.initialize(), which reads the worker list and this worker's id from the
# TPU VM metadata; all hosts then form one JAX job.
#
# Usage:
#   TPU_NAME=my-tpu ZONE=us-central2-b PROJECT=my-project \
#     launch/tpu_vm.sh [--setup] --config=configs/<experiment>.py --workdir=gs://bucket/<run> [--config.key=value ...]
#
#   --setup   (first argument only) also install "jax[tpu]" and the package's dependencies on each
#             worker; without it the synced checkout is only (re)installed with --no-deps.
#
# Environment:
#   TPU_NAME, ZONE, PROJECT   the TPU VM (required)
#   REMOTE_DIR                where the checkout is synced on the workers, relative to the remote
#                             home directory and replaced on every run (default: efficient_jax)
#   PYTHON                    interpreter on the workers (default: python3)
# The workdir should be a gs:// path or an absolute path on a disk every worker shares (not inside
# REMOTE_DIR, which is replaced on every run); only process 0 writes results.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME to the TPU VM name}"
: "${ZONE:?set ZONE to the TPU VM zone}"
: "${PROJECT:?set PROJECT to the Google Cloud project}"
REMOTE_DIR="${REMOTE_DIR:-efficient_jax}"
PYTHON="${PYTHON:-python3}"
# REMOTE_DIR is replaced on every sync, so refuse anything that could be a home or system folder.
if [[ ! "${REMOTE_DIR}" =~ ^[A-Za-z0-9_][A-Za-z0-9._/-]*$ || "${REMOTE_DIR}" == *..* ]]; then
  echo "REMOTE_DIR=${REMOTE_DIR} must be a relative folder name like efficient_jax" >&2
  exit 2
fi

SETUP=0
if [[ "${1:-}" == "--setup" ]]; then
  SETUP=1
  shift
fi

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GCLOUD_TPU=(gcloud compute tpus tpu-vm --project "${PROJECT}" --zone "${ZONE}")

# 1. Sync the checkout (tracked and untracked-but-not-ignored files) to every worker.
ARCHIVE="$(mktemp "${TMPDIR:-/tmp}/efficient_jax.XXXXXX.tar.gz")"
trap 'rm -f "${ARCHIVE}"' EXIT
git -C "${REPO_DIR}" ls-files -z --cached --others --exclude-standard \
  | tar -C "${REPO_DIR}" --null -T - -czf "${ARCHIVE}"
"${GCLOUD_TPU[@]}" scp "${ARCHIVE}" "${TPU_NAME}:efficient_jax_src.tar.gz" --worker=all

# 2. Install it (and, with --setup, JAX for TPU and the dependencies) on every worker.
INSTALL="rm -rf ${REMOTE_DIR} && mkdir -p ${REMOTE_DIR} && tar -xzf efficient_jax_src.tar.gz -C ${REMOTE_DIR}"
if [[ "${SETUP}" == 1 ]]; then
  INSTALL+=" && ${PYTHON} -m pip install -U 'jax[tpu]' && ${PYTHON} -m pip install -e ${REMOTE_DIR}"
else
  INSTALL+=" && ${PYTHON} -m pip install -q --no-deps -e ${REMOTE_DIR}"
fi

# 3. Run the same command on all workers; arguments are quoted for the remote shell.
ARGS=""
if (($#)); then
  printf -v ARGS ' %q' "$@"
fi
"${GCLOUD_TPU[@]}" ssh "${TPU_NAME}" --worker=all --command \
  "set -euo pipefail; ${INSTALL} && cd ${REMOTE_DIR} && EFFICIENT_JAX_DISTRIBUTED=1 ${PYTHON} -m efficient_jax.main${ARGS}"
