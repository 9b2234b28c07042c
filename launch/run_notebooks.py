"""Executes the notebooks in ``notebooks/`` and saves them with their outputs.

Usage:
  python launch/run_notebooks.py                 # every notebook, outputs written in place
  python launch/run_notebooks.py cascades.ipynb  # only these
  python launch/run_notebooks.py --check         # execute without writing (what the tests do)

Each notebook runs in a fresh kernel of this interpreter with one CPU device, as on Colab (the
8-device ``XLA_FLAGS`` of the test suite are removed). Outputs are committed so the plots show on
the repository page; execution counts are renumbered from 1 so reruns give small diffs. The
tests call :func:`execute_notebook` on the same files.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import jupyter_client
import nbclient
import nbformat

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


class _ThisInterpreterKernel(jupyter_client.KernelManager):
    """Starts ipykernel with ``sys.executable`` (the venv's Python), whatever kernelspecs exist."""

    def format_kernel_cmd(self, extra_arguments=None):
        connection_file = os.path.realpath(self.connection_file)
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
        return cmd + list(extra_arguments or [])


def execute_notebook(path: str | os.PathLike, timeout: int = 300) -> nbformat.NotebookNode:
    """Runs every cell of the notebook at ``path``; returns it with outputs (nothing written).

    Raises:
      nbclient.exceptions.CellExecutionError: a cell raised; the message shows the traceback.
    """
    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    client = nbclient.NotebookClient(
        nb,
        km=_ThisInterpreterKernel(kernel_name="python3"),
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=env)
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = count
    nb.metadata.pop("widgets", None)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook file names (default: all)")
    parser.add_argument("--check", action="store_true", help="execute only; write nothing")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = [NOTEBOOKS / n for n in args.names] or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        valid = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
        raise SystemExit(f"No such notebook: {missing}; valid: {valid}.")
    rows = []
    for path in paths:
        start = time.perf_counter()
        nb = execute_notebook(path, timeout=args.timeout)
        if not args.check:
            nbformat.write(nb, path)
        rows.append((path.name, time.perf_counter() - start))
        print(f"executed {path.name} in {rows[-1][1]:.1f} s", flush=True)
    print(f"\n{'notebook':<28} {'seconds':>8}")
    for name, secs in rows:
        print(f"{name:<28} {secs:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
