"""The nas_search trainer end to end on the synthetic table (tiny), with resume."""

import json

import jax
import numpy as np
import pytest

from efficient_jax.core import load_config
from efficient_jax.nas import benchmarks as nb
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


def _tiny(config):
    config.runs = 2
    config.synthetic_size = 625
    config.max_queries = 40
    config.budgets = [20]
    config.methods = ["random", "weaknas"]
    config.weaknas.update(m0=10, m=5, top_n=10, hidden=[8], epochs=5, chunk=2)
    return config


def test_constrained_metrics_refer_to_feasible_optimum(tmp_path):
    """Issue 18 items 1 and 5: a cost column joined from a CSV; every metric of a constrained run
    refers to the best feasible cell, and results.json says so."""
    config = _tiny(load_config("configs/nas_nb201_weaknas.py:runlocal,benchmark=synthetic"))
    test = nb.synthetic_nb201_table(jax.random.key(config.seed + 1000), size=625).column("test_acc")
    cost = np.full(625, 10.0)
    cost[np.argsort(test)[:40]] = 1.0  # the 40 worst cells are the feasible ones
    lines = "".join(f"{i},{c}\n" for i, c in enumerate(cost))
    (tmp_path / "lat.csv").write_text("index,latency_ms\n" + lines)
    config.cost_csv, config.cost_column, config.cost_budget = (
        str(tmp_path / "lat.csv"),
        "latency_ms",
        1,
    )
    res = nas_search.train_and_evaluate(config, tmp_path / "run")
    best = test[cost <= 1].max()
    assert res["constrained"] == 1 and res["feasible_cells"] == 40
    assert res["feasible_optimum_acc"] == pytest.approx(best)
    runs = json.loads((tmp_path / "run" / "runs.json").read_text())
    for run in runs["random"] + runs["weaknas"]:
        assert run["samples_to_optimum"] <= 40  # 40 feasible cells, 40 queries
        assert 1 <= run["rank@20"] <= 40
        assert run["regret@20"] == pytest.approx(best - run["test_acc@20"])
        assert min(run["curve_regret"]) >= 0


def test_cost_csv_must_cover_every_cell(tmp_path):
    config = _tiny(load_config("configs/nas_nb201_weaknas.py:runlocal,benchmark=synthetic"))
    (tmp_path / "lat.csv").write_text("index,latency_ms\n0,1.0\n3,2.0\n")
    config.cost_csv, config.cost_column, config.cost_budget = (
        str(tmp_path / "lat.csv"),
        "latency_ms",
        1,
    )
    with pytest.raises(
        ValueError, match=r"no value of 'latency_ms' for 623 of 625.*\[1, 2, 4, 5, 6\]"
    ):
        nas_search.train_and_evaluate(config, tmp_path / "run")


def test_empty_search_column_in_trainer(tmp_path):
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    (tmp_path / "nb201").mkdir()
    (tmp_path / "nb201" / "nb201_ImageNet16-120.csv").write_text(
        "index,arch_str,valid_acc_12ep,test_acc_12ep,valid_acc_200ep,test_acc_200ep\n"
        f"0,{arch},30.0,31.0,,40.0\n"
    )
    config = load_config("configs/nas_nb201_weaknas.py:runlocal")
    config.data_dir, config.dataset = str(tmp_path), "imagenet16_120"
    config.search_metric = "valid_acc_200ep"
    with pytest.raises(ValueError, match="'valid_acc_200ep' is empty for NB201 ImageNet16-120"):
        nas_search.train_and_evaluate(config, tmp_path / "run")
