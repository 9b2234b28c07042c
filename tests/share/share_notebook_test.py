"""Executes ``notebooks/weight_sharing.ipynb`` end to end with the test interpreter's ipykernel."""

import os
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
jupyter_client = pytest.importorskip("jupyter_client")

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "weight_sharing.ipynb"


class _VenvKernelManager(jupyter_client.KernelManager):
    """Launches ipykernel on ``sys.executable`` (this venv), whatever kernelspecs are installed."""

    def format_kernel_cmd(self, extra_arguments=None):
        connection_file = os.path.realpath(self.connection_file)
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
        return cmd + list(extra_arguments or [])


@pytest.mark.slow
def test_weight_sharing_notebook_runs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device, as Colab
    client = nbclient.NotebookClient(
        nb,
        km=_VenvKernelManager(kernel_name="python3"),
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=env)
    outputs = "".join(
        out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert "WR accuracy" in outputs and "energy ratio dense / shared" in outputs
    assert any(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )
