"""Executes ``notebooks/weight_sharing.ipynb`` end to end."""

import pytest


@pytest.mark.slow
def test_weight_sharing_notebook_runs(run_notebook):
    _, text, has_png = run_notebook("weight_sharing.ipynb")
    assert "WR accuracy" in text and "energy ratio dense / shared" in text
    assert has_png
