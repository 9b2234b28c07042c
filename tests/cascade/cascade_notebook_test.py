"""Executes ``notebooks/cascades.ipynb`` end to end."""

import pytest


@pytest.mark.slow
def test_cascades_notebook_runs(run_notebook):
    _, text, has_png = run_notebook("cascades.ipynb")
    assert has_png, "the accuracy-vs-FLOPs plot was not rendered"
    assert "Traceback" not in text
