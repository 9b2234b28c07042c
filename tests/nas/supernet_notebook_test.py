"""Executes ``notebooks/supernets.ipynb`` end to end."""

import pytest


@pytest.mark.slow
@pytest.mark.data
def test_supernets_notebook_runs(run_notebook, data_dir):
    del data_dir  # The notebook reads NB201 and CIFAR-10 from the shared data folder.
    _, text, has_png = run_notebook("supernets.ipynb", timeout=600)
    assert "Traceback" not in text
    assert "NB201 test acc" in text and "standalone" in text
    assert has_png
