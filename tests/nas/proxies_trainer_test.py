"""The zero_cost trainer end to end on a few sample cells of a tiny NB201 net (real tables)."""

import importlib.util
import json
import pathlib

import numpy as np
import pytest

from efficient_jax.core import load_config
from efficient_jax.trainers import zero_cost


def _report():
    path = pathlib.Path(__file__).parents[2] / "launch" / "report_zero_cost_checkpoint.py"
    spec = importlib.util.spec_from_file_location("report_zero_cost_checkpoint", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    # the report script reads the checkpoints (and the run's config.json) back
    scores, acc, ref, info = _report().merge_runs(
        [f"{tmp_path}:synflow", f"{tmp_path}:l2_norm", f"{tmp_path}:synflow"]
    )
    assert info["runs"][0]["cells_scored"] == 4 and info["overlapping_cells"] == 4
    assert info["max_rel_disagreement"] == 0.0 and info["settings"]["init"] == "torch"
    assert len(scores["synflow"]) == len(scores["l2_norm"]) == 4 and len(ref["synflow"]) == 4
    out, lines = _report().report([f"{tmp_path}:synflow"])
    assert out["synflow"]["cells"] == 4 and lines[-1].startswith("| synflow | 4 |")
    _report().plot(out, str(tmp_path / "tau.png"))
    assert (tmp_path / "tau.png").stat().st_size > 0
    per_cell = config.copy_and_resolve_references()
    per_cell.init_per_cell = True  # NASLib's protocol: every cell initialised afresh
    fresh = zero_cost.train_and_evaluate(per_cell, str(tmp_path / "per_cell"))
    assert fresh["num_cells"] == 4 and "l2_norm_kendall_tau" in fresh
    ours = np.loadtxt(tmp_path / "scores.csv", delimiter=",", skiprows=1, usecols=(2, 3))
    theirs = np.loadtxt(
        tmp_path / "per_cell" / "scores.csv", delimiter=",", skiprows=1, usecols=(2, 3)
    )
    assert not np.allclose(ours, theirs)
    config.init = "flax"  # other weights: those scores must not be resumed either
    with pytest.raises(ValueError, match="was computed with"):
        zero_cost.train_and_evaluate(config, str(tmp_path))
    config.init = "torch"
    config.limit = 3  # a different cell set must not silently reuse those scores
    with pytest.raises(ValueError, match="does not match this run|different set of cells"):
        zero_cost.train_and_evaluate(config, str(tmp_path))


def test_zero_cost_trainer_rejects_unknown_proxy(tmp_path):
    config = load_config("configs/zero_cost_nb201.py:runlocal,proxies=synflw")
    with pytest.raises(ValueError, match="Unknown zero-cost proxy 'synflw'"):
        zero_cost.train_and_evaluate(config, str(tmp_path))


def test_zero_cost_trainer_rejects_unknown_init(tmp_path):
    config = load_config("configs/zero_cost_nb201.py:runlocal")
    config.init = "xavier"
    with pytest.raises(ValueError, match="config.init must be 'torch' or 'flax'"):
        zero_cost.train_and_evaluate(config, str(tmp_path))


def test_aps_trainer_rejects_impossible_flops_target(tmp_path):
    from efficient_jax.trainers import aps

    config = load_config("configs/aps_resnet20_cifar10.py:runlocal")
    config.target_macs = 1e6  # below the narrowest ResNet-20 of the space
    with pytest.raises(ValueError, match="below the smallest architecture"):
        aps.train_and_evaluate(config, str(tmp_path))


def test_aps_trainer_smoke_meets_target_and_resumes(tmp_path, data_dir, fast_compile):
    from efficient_jax.trainers import aps

    config = load_config("configs/aps_resnet20_cifar10.py:runlocal,strategies=transition")
    config.data_dir = str(data_dir)
    config.init_from_pytorch = ""
    config.batch_size = config.val_batch_size = 8
    config.warmup_steps, config.search_steps, config.finetune_steps = 2, 2, 2
    config.val_size, config.test_limit, config.eval_batch_size = 64, 16, 16
    config.controller_samples, config.controller_every = 2, 1
    config.baseline_uniform = False
    config.checkpoint_every = 1
    results = aps.train_and_evaluate(config, str(tmp_path))
    # the constrained beam picks an architecture within the FLOPs budget (+2% slack)
    assert results["aps_t_macs"] <= results["target_macs"] * (1 + config.budget_slack)
    assert (tmp_path / "checkpoints" / "transition_search").is_dir()
    assert (tmp_path / "checkpoints" / "transition_child").is_dir()
    # a rerun restores both final checkpoints: same architecture and accuracy, no retraining
    again = aps.train_and_evaluate(config, str(tmp_path))
    assert again["aps_t_macs"] == results["aps_t_macs"]
    assert again["aps_t_accuracy"] == results["aps_t_accuracy"]
    assert again["aps_t_phi_start"] == results["aps_t_phi_start"]
