"""The committed notebooks carry their outputs (plots visible on the repository page).

``python launch/run_notebooks.py`` executes them and writes the outputs; the per-notebook tests
execute them again from a clean state.
"""

from __future__ import annotations

import json
import pathlib

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_executed_with_a_plot(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    unexecuted = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were not executed"
    errors = [o for c in cells for o in c["outputs"] if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was committed with an error output"
    pngs = [o for c in cells for o in c["outputs"] if "image/png" in o.get("data", {})]
    assert pngs, f"{path.name} has no plot output; run `python launch/run_notebooks.py`"
