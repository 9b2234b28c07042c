"""Every ``>>>`` example in the library runs: one test per module that has examples.

Equivalent to ``pytest --doctest-modules efficient_jax`` but collected from ``tests/``, so the
README's test command (and ``-n auto``) runs them. Options: ``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``; an example that needs the real data is marked ``# doctest: +SKIP``.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import efficient_jax

_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    names = ["efficient_jax"]
    for info in pkgutil.walk_packages(efficient_jax.__path__, "efficient_jax."):
        names.append(info.name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    out = []
    for name in sorted(names):
        if name == "efficient_jax.main":
            continue  # absl flags at import; its usage is exercised by the trainer tests.
        module = importlib.import_module(name)
        if any(t.examples for t in finder.find(module, name)):
            out.append(name)
    return out


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    for test in finder.find(module, name):
        if test.examples:
            test.globs = {**test.globs}
            runner.run(test, out=lambda s: print(s, end=""))
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
