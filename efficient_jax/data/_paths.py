"""Data location (``data_dir``, ``$EFFICIENT_JAX_DATA``, ``../shared/data``), with one clear error.

Every loader in :mod:`efficient_jax.data` resolves its folder with :func:`resolve_data_dir` and
checks each file with :func:`require_file`, so a missing dataset always fails the same way: a
:class:`DataNotFoundError` naming the path(s) tried, the ``EFFICIENT_JAX_DATA`` variable, how to
obtain the data and :data:`DATA_DOC` (``docs/DATA.md``: every dataset's layout and source).

Example:
    >>> import tempfile
    >>> d = resolve_data_dir(tempfile.gettempdir())
    >>> d.is_dir()
    True
"""

from __future__ import annotations

import os
import pathlib

ENV_DATA = "EFFICIENT_JAX_DATA"
ENV_CACHE = "EFFICIENT_JAX_CACHE"

# This file is <repo>/efficient_jax/data/_paths.py; development data lives at <repo>/../shared/data.
_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
_DEV_DATA = pathlib.Path("..") / "shared" / "data"

# Where every dataset's expected layout and source are written down (in the repository).
DATA_DOC = "docs/DATA.md"
HOW_TO_GET_DATA = (
    f"Pass data_dir=..., or set {ENV_DATA}=/path/to/data, or place the data at ../shared/data next "
    "to the repository. The expected layout (mnist/, cifar10/, glue/<TASK>/, weights/, nb201/, "
    f"nb101/) and where each dataset comes from: {DATA_DOC} in the efficient_jax repository."
)


class DataNotFoundError(FileNotFoundError):
    """A dataset folder or file is missing; the message says where it looked and how to get it."""


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Returns the data folder: ``data_dir``, else ``$EFFICIENT_JAX_DATA``, else ``../shared/data``.

    The development fallback ``../shared/data`` is tried relative to the repository root (the parent
    of the ``efficient_jax`` package) and then relative to the current directory. An explicit
    ``data_dir`` or a set ``EFFICIENT_JAX_DATA`` is used alone: a wrong path is an error, never a
    silent fall-back to another folder.

    Args:
      data_dir: explicit folder, or ``None`` (or ``""``, the unset value in configs) to use the
        environment / development default.

    Returns:
      The absolute path of an existing folder.

    Raises:
      DataNotFoundError: if no candidate folder exists; the message names every path tried.

    Example:
        >>> import os, tempfile
        >>> os.environ["EFFICIENT_JAX_DATA"] = tempfile.gettempdir()
        >>> resolve_data_dir() == resolve_data_dir(tempfile.gettempdir())
        True
        >>> del os.environ["EFFICIENT_JAX_DATA"]
    """
    if data_dir is not None and os.fspath(data_dir) != "":
        candidates = [(pathlib.Path(data_dir).expanduser(), "data_dir argument")]
    elif os.environ.get(ENV_DATA):
        candidates = [(pathlib.Path(os.environ[ENV_DATA]).expanduser(), f"${ENV_DATA}")]
    else:
        candidates = [
            (_REPO_ROOT / _DEV_DATA, "repository-relative default"),
            (pathlib.Path.cwd() / _DEV_DATA, "working-directory-relative default"),
        ]
    for path, _ in candidates:
        if path.is_dir():
            return path.resolve()
    tried = "; ".join(f"{os.path.abspath(p)} ({why})" for p, why in candidates)
    raise DataNotFoundError(f"Data folder not found. Tried: {tried}. {HOW_TO_GET_DATA}")


def require_file(path: str | os.PathLike, what: str, how_to_get: str) -> pathlib.Path:
    """Returns ``path`` if it exists, else raises the one clear :class:`DataNotFoundError`.

    Args:
      path: the file (or folder) that must exist.
      what: a short description, e.g. ``"GLUE SST-2 dev split"``.
      how_to_get: one sentence on how to obtain it.

    Raises:
      DataNotFoundError: naming ``what``, the absolute path, ``how_to_get``,
        ``EFFICIENT_JAX_DATA`` and ``docs/DATA.md``.

    Example:
        >>> try:
        ...     require_file("/nonexistent/x.tsv", "a TSV", "Write one.")
        ... except DataNotFoundError as e:
        ...     print("EFFICIENT_JAX_DATA" in str(e), "docs/DATA.md" in str(e))
        True True
    """
    path = pathlib.Path(path).expanduser()
    if path.exists():
        return path
    raise DataNotFoundError(
        f"{what} not found at {os.path.abspath(path)}. {how_to_get} The data folder comes from the "
        f"data_dir argument, else ${ENV_DATA}, else ../shared/data next to the repository. "
        f"Expected layouts and sources: {DATA_DOC}."
    )


def default_cache_dir() -> pathlib.Path:
    """``$EFFICIENT_JAX_CACHE`` if set, else ``~/.cache/efficient_jax`` (not created here)."""
    env = os.environ.get(ENV_CACHE)
    return (
        pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "efficient_jax"
    )
