"""No private cross-package imports: ``efficient_jax.a._b`` is private to package ``a``.

Walks the library, the launch scripts and the notebooks' code cells; an import of a private module
(a path component starting with ``_``) or of a private name is allowed only from inside the
package that owns it. Tests may reach into private modules; they are not walked.
"""

from __future__ import annotations

import ast
import json
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _owner(module: str) -> str | None:
    """The package that owns ``module`` if it is private (``a.b._c.d`` -> ``a.b``), else None.

    A private name of a public module (``a.b.mod._name``) belongs to that module's package.
    """
    parts = module.split(".")
    for i, part in enumerate(parts):
        if _is_private(part):
            owner = parts[:i]
            if (REPO_ROOT.joinpath(*owner).with_suffix(".py")).is_file():
                owner = owner[:-1]
            return ".".join(owner)
    return None


def _inside(importer_package: str, owner: str) -> bool:
    return importer_package == owner or importer_package.startswith(owner + ".")


def violations(source: str, importer_package: str) -> list[str]:
    """Private imports in ``source`` that ``importer_package`` may not make.

    ``importer_package`` is the package the code lives in (``efficient_jax.quant`` for
    ``efficient_jax/quant/_model.py``; ``""`` for scripts and notebooks).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [(node.module, node.module)]
            targets += [(f"{node.module}.{a.name}", f"{node.module}.{a.name}") for a in node.names]
        else:
            continue
        for module, shown in targets:
            if not module.startswith("efficient_jax"):
                continue
            owner = _owner(module)
            if owner is not None and not _inside(importer_package, owner):
                found.append(f"line {node.lineno}: {shown}")
    return sorted(set(found))


def _package_of(path: pathlib.Path) -> str:
    rel = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    else:
        parts = parts[:-1]
    return ".".join(parts)


def _sources():
    for path in sorted((REPO_ROOT / "efficient_jax").rglob("*.py")):
        yield path, path.read_text(), _package_of(path)
    for folder in ("launch", "configs"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            yield path, path.read_text(), ""
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = [
            "".join(c["source"]) for c in cells if c["cell_type"] == "code"
        ]  # IPython magics would not parse; drop them.
        lines = [
            ln
            for cell in code
            for ln in cell.splitlines()
            if not ln.lstrip().startswith(("%", "!"))
        ]
        yield path, "\n".join(lines), ""


def test_rule_detects_private_imports():
    src = (
        "from efficient_jax.quant._model import prepare\nimport efficient_jax.nas.proxies._nb201\n"
    )
    assert violations(src, "efficient_jax.ptq") == [
        "line 1: efficient_jax.quant._model",
        "line 1: efficient_jax.quant._model.prepare",
        "line 2: efficient_jax.nas.proxies._nb201",
    ]
    assert violations(src.splitlines()[0], "efficient_jax.quant") == []
    assert violations("from efficient_jax.models import _resnet", "") == [
        "line 1: efficient_jax.models._resnet"
    ]
    assert violations("from efficient_jax.nas.supernet import _x", "efficient_jax.nas") == [
        "line 1: efficient_jax.nas.supernet._x"
    ]
    assert violations("from efficient_jax.quant import prepare", "") == []


_SOURCES = list(_sources())


@pytest.mark.parametrize(
    "path,source,package",
    _SOURCES,
    ids=[str(p.relative_to(REPO_ROOT)) for p, _, _ in _SOURCES],
)
def test_no_private_cross_package_imports(path, source, package):
    bad = violations(source, package)
    rel = path.relative_to(REPO_ROOT)
    assert not bad, f"{rel} imports private names of other packages: {bad}"
