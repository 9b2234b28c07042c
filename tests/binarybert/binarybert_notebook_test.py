"""Executes ``notebooks/binarybert.ipynb`` end to end."""

import re

import pytest


@pytest.mark.slow
def test_binarybert_notebook_runs(run_notebook):
    _, text, has_png = run_notebook("binarybert.ipynb")
    assert has_png, "the split histograms were not rendered"
    assert "Traceback" not in text
    diff = re.search(r"max \|logits difference\|: ([0-9.e+-]+)", text)
    assert diff is not None and float(diff.group(1)) < 1e-4
