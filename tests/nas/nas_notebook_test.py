"""Executes ``notebooks/nas_search.ipynb`` end to end."""

import pytest


@pytest.mark.slow
@pytest.mark.data
def test_nas_notebook_runs(run_notebook, data_dir):
    del data_dir  # The notebook reads NAS-Bench-201 from the shared data folder.
    _, text, has_png = run_notebook("nas_search.ipynb")
    assert has_png, "the search curves were not rendered"
    assert "Traceback" not in text
