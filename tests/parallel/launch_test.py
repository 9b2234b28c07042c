import os
import pathlib
import shutil
import stat
import subprocess

import pytest

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / "launch"
SCRIPTS = ["local.sh", "gpu_node.sh", "tpu_vm.sh", "slurm.sbatch"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_syntax_and_entry_point(name):
    path = LAUNCH / name
    text = path.read_text()
    subprocess.run(["bash", "-n", str(path)], check=True)
    assert text.startswith("#!"), "needs a shebang"
    assert "set -euo pipefail" in text
    assert "Usage" in text.split("set -euo pipefail")[0], "usage comment at the top"
    assert "efficient_jax.main" in text
    assert path.stat().st_mode & stat.S_IXUSR, "must be executable"


def _fake_bin(tmp_path, name):
    """A stand-in for ``name`` that prints its arguments, one per ``<...>``."""
    path = tmp_path / name
    path.write_text('#!/usr/bin/env bash\nprintf "<%s>" "$@"; echo\n')
    path.chmod(0o755)
    return tmp_path


def _run(script, args, env):
    return subprocess.run(
        ["bash", str(LAUNCH / script), *args], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_local_and_gpu_node_pass_arguments_through(tmp_path):
    env = dict(os.environ, PYTHON=str(_fake_bin(tmp_path, "py") / "py"))
    env.pop("XLA_PYTHON_CLIENT_MEM_FRACTION", None)
    args = ["--config", "configs/x.py:runlocal", "--workdir", "/tmp/a b"]
    expected = "<-m><efficient_jax.main><--config><configs/x.py:runlocal><--workdir></tmp/a b>"
    assert _run("local.sh", args, env).strip() == expected
    assert _run("gpu_node.sh", args, dict(env, PATH="/usr/bin:/bin")).strip() == expected


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_tpu_vm_runs_main_on_all_workers(tmp_path):
    env = dict(os.environ, TPU_NAME="tpu", ZONE="zone", PROJECT="proj")
    env["PATH"] = f"{_fake_bin(tmp_path, 'gcloud')}:{env['PATH']}"
    scp, ssh = _run("tpu_vm.sh", ["--workdir", "gs://b/run 1"], env).strip().splitlines()
    assert "<scp>" in scp and "<--worker=all>" in scp
    assert "<ssh><tpu><--worker=all><--command>" in ssh
    assert (
        "EFFICIENT_JAX_DISTRIBUTED=1 python3 -m efficient_jax.main --workdir gs://b/run\\ 1>" in ssh
    )
    assert "jax[tpu]" not in ssh


def test_slurm_runs_one_task_per_node_with_all_local_gpus(tmp_path):
    srun = tmp_path / "srun"
    srun.write_text('#!/usr/bin/env bash\necho "$JAX_LOCAL_DEVICE_IDS"; printf "<%s>" "$@"; echo\n')
    srun.chmod(0o755)
    env = dict(os.environ, SLURM_GPUS_ON_NODE="4", PATH=f"{tmp_path}:{os.environ['PATH']}")
    ids, cmd = _run("slurm.sbatch", ["--config", "c.py"], env).strip().splitlines()
    assert ids == "0,1,2,3"
    assert cmd.startswith("<--ntasks-per-node=1>")
    assert cmd.endswith("<python><-m><efficient_jax.main><--config><c.py>")
