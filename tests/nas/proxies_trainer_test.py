"""The zero_cost trainer end to end on a few sample cells of a tiny NB201 net (real tables)."""

import json

import pytest

from efficient_jax.core import load_config
from efficient_jax.trainers import zero_cost


def test_zero_cost_trainer_smoke(tmp_path, data_dir, fast_compile):
    config = load_config("configs/zero_cost_nb201.py:runlocal,proxies=synflow+l2_norm,limit=4")
    config.data_dir = str(data_dir)
    config.channels, config.cells_per_stage, config.batch_size = 4, 1, 8
    config.progress = False
    results = zero_cost.train_and_evaluate(config, str(tmp_path))
    assert results["num_cells"] == 4
    for key in ("synflow_kendall_tau", "synflow_naslib_kendall_tau", "l2_norm_per_arch_s"):
        assert key in results
    assert json.loads((tmp_path / "results.json").read_text())["num_cells"] == 4
    assert (tmp_path / "scores.csv").read_text().count("\n") == 5
    # rerun in the same workdir: every group resumes from its final checkpoint, nothing rescored
    again = zero_cost.train_and_evaluate(config, str(tmp_path))
    assert again["synflow_kendall_tau"] == results["synflow_kendall_tau"]
    assert (tmp_path / "checkpoints" / "synflow").is_dir()
    config.limit = 3  # a different cell set must not silently reuse those scores
    with pytest.raises(ValueError, match="does not match this run|different set of cells"):
        zero_cost.train_and_evaluate(config, str(tmp_path))


def test_zero_cost_trainer_rejects_unknown_proxy(tmp_path):
    config = load_config("configs/zero_cost_nb201.py:runlocal,proxies=synflw")
    with pytest.raises(ValueError, match="Unknown zero-cost proxy 'synflw'"):
        zero_cost.train_and_evaluate(config, str(tmp_path))


def test_aps_trainer_rejects_impossible_flops_target(tmp_path):
    from efficient_jax.trainers import aps

    config = load_config("configs/aps_resnet20_cifar10.py:runlocal")
    config.target_macs = 1e6  # below the narrowest ResNet-20 of the space
    with pytest.raises(ValueError, match="below the smallest architecture"):
        aps.train_and_evaluate(config, str(tmp_path))
