"""Executes ``notebooks/few_shot_pruning.ipynb`` end to end."""

import pytest


@pytest.mark.slow
def test_few_shot_pruning_notebook_runs(run_notebook):
    _, text, has_png = run_notebook("few_shot_pruning.ipynb")
    assert has_png, "the accuracy bar plot was not rendered"
    assert "Traceback" not in text
    assert "max |logit difference|" in text
