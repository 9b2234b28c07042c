"""Executes ``notebooks/quantization.ipynb`` end to end."""


def test_quantization_notebook_runs(run_notebook):
    _, text, has_png = run_notebook("quantization.ipynb", timeout=180)
    assert "QAT LSQ W4A4" in text and "packed vs" in text
    assert has_png, "the accuracy-vs-size plot was not rendered"
