"""Test environment: 8 fake CPU devices, deterministic, fast compiles for smoke tests."""

import importlib.util
import os
import pathlib

os.environ.setdefault("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_threefry_partitionable", True)

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def shared_data_dir() -> pathlib.Path | None:
    """The real-data folder (``EFFICIENT_JAX_DATA`` or ``../shared/data``), or None if absent."""
    env = os.environ.get("EFFICIENT_JAX_DATA")
    for cand in ([pathlib.Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture
def data_dir() -> pathlib.Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not found: set EFFICIENT_JAX_DATA or place it at ../shared/data")
    return d


@pytest.fixture
def fast_compile():
    """Disables most XLA optimisations for smoke tests (compile time dominates there)."""
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def run_notebook():
    """Executes a notebook from ``notebooks/`` as ``launch/run_notebooks.py`` does.

    One CPU device, as on Colab. Returns ``(notebook, text_outputs, has_png)``; skips without
    nbclient/ipykernel.
    """
    pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("jupyter_client")
    spec = importlib.util.spec_from_file_location(
        "run_notebooks", REPO_ROOT / "launch" / "run_notebooks.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    def run(name: str, timeout: int = 300):
        nb = script.execute_notebook(REPO_ROOT / "notebooks" / name, timeout=timeout)
        outs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
        text = "".join(
            o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outs
        )
        has_png = any("image/png" in o.get("data", {}) for o in outs)
        return nb, text, has_png

    return run
