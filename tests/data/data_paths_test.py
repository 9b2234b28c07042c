"""Tests for data-folder resolution and the one missing-data error."""

import pytest

from efficient_jax.data import DataNotFoundError, _paths, require_file, resolve_data_dir


def test_explicit_dir_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFICIENT_JAX_DATA", "/nonexistent/env")
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()
    assert resolve_data_dir(str(tmp_path)) == tmp_path.resolve()


def test_explicit_missing_dir_names_path_and_env(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataNotFoundError) as e:
        resolve_data_dir(missing)
    assert str(missing) in str(e.value)
    assert "EFFICIENT_JAX_DATA" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_env_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFICIENT_JAX_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve()
    assert resolve_data_dir("") == tmp_path.resolve()  # configs spell "unset" as ""
    monkeypatch.setenv("EFFICIENT_JAX_DATA", str(tmp_path / "gone"))
    with pytest.raises(DataNotFoundError, match="gone"):
        resolve_data_dir()


def test_repo_relative_then_cwd_relative_default(tmp_path, monkeypatch):
    monkeypatch.delenv("EFFICIENT_JAX_DATA", raising=False)
    (tmp_path / "repo").mkdir()
    monkeypatch.setattr(_paths, "_REPO_ROOT", tmp_path / "repo")
    work = tmp_path / "elsewhere" / "cwd"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    with pytest.raises(DataNotFoundError) as e:
        resolve_data_dir()
    msg = str(e.value)
    assert str(tmp_path / "shared" / "data") in msg  # repo-relative candidate
    assert str(tmp_path / "elsewhere" / "shared" / "data") in msg  # cwd-relative candidate
    assert "EFFICIENT_JAX_DATA" in msg

    (tmp_path / "elsewhere" / "shared" / "data").mkdir(parents=True)
    assert resolve_data_dir() == (tmp_path / "elsewhere" / "shared" / "data").resolve()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert resolve_data_dir() == (tmp_path / "shared" / "data").resolve()


def test_require_file(tmp_path):
    f = tmp_path / "x.tsv"
    f.write_text("a")
    assert require_file(f, "a file", "Make it.") == f
    with pytest.raises(DataNotFoundError) as e:
        require_file(tmp_path / "y.tsv", "The Y table", "Run make_y.py.")
    msg = str(e.value)
    assert "The Y table" in msg and str(tmp_path / "y.tsv") in msg
    assert "Run make_y.py." in msg and "EFFICIENT_JAX_DATA" in msg
