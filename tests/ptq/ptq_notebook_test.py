"""Executes ``notebooks/ptq_mrem.ipynb`` end to end."""

import pytest


@pytest.mark.slow
def test_ptq_mrem_notebook_runs(run_notebook):
    _, text, has_png = run_notebook("ptq_mrem.ipynb")
    assert has_png, "the loss-curve plot was not rendered"
    assert "Traceback" not in text
    assert "MREM-P" in text
