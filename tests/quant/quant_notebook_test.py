"""Executes ``notebooks/quantization.ipynb`` end to end with the test interpreter's ipykernel."""

import os
import pathlib
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
jupyter_client = pytest.importorskip("jupyter_client")

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "quantization.ipynb"
TIMEOUT_S = 180  # per cell; the whole notebook takes well under 90 s on a free CPU


class _VenvKernelManager(jupyter_client.KernelManager):
    """Launches ipykernel on ``sys.executable`` (this venv), whatever kernelspecs are installed."""

    def format_kernel_cmd(self, extra_arguments=None):
        connection_file = os.path.realpath(self.connection_file)
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
        return cmd + list(extra_arguments or [])


def test_quantization_notebook_runs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device, as Colab
    km = _VenvKernelManager(kernel_name="python3")
    client = nbclient.NotebookClient(
        nb,
        km=km,
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    start = time.perf_counter()
    client.execute(env=env)
    elapsed = time.perf_counter() - start
    outputs = "".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )
    assert "QAT LSQ W4A4" in outputs and "packed vs" in outputs
    assert any(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    ), "the accuracy-vs-size plot was not rendered"
    print(f"notebook executed in {elapsed:.1f} s")
