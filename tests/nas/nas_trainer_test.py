"""The nas_search trainer end to end on the synthetic table (tiny), with resume."""

import json

import pytest

from efficient_jax.core import load_config
from efficient_jax.trainers import nas_search


def test_nas_search_trainer_and_resume(tmp_path):
    config = load_config("configs/nas_nb201_weaknas.py:runlocal,benchmark=synthetic")
    config.runs = 2
    config.synthetic_size = 625
    config.methods = ["random", "weaknas", "nars"]
    config.max_queries = 40
    config.budgets = [20, 30]
    config.max_queries_per_method = {"nars": 30}
    config.weaknas.m0 = 20
    config.weaknas.top_n = 30
    config.weaknas.hidden = [8]
    config.weaknas.epochs = 5
    config.weaknas.chunk = 2
    config.search_metric, config.report_metric = "valid_acc", "test_acc"
    res = nas_search.train_and_evaluate(config, tmp_path)
    assert "weaknas/regret@30_mean" in res and "random/rank@20_mean" in res
    assert (tmp_path / "nas_curves.png").exists() and (tmp_path / "results.json").exists()
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert all(len(runs[m]) == 2 for m in config.methods)
    # A rerun resumes: nothing is recomputed and the results are identical.
    assert nas_search.train_and_evaluate(config, tmp_path) == res


def test_unknown_method_fails_before_any_work(tmp_path):
    config = load_config("configs/nas_nb201_weaknas.py:runlocal,benchmark=synthetic")
    config.methods = ["random", "evolutoin"]
    with pytest.raises(ValueError, match="Unknown method.*'evolutoin'.*valid: .*'evolution'"):
        nas_search.train_and_evaluate(config, tmp_path)
    assert not list(tmp_path.iterdir())
