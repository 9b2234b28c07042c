"""Smoke test of trainers/cascades.py: a 3-MLP pool on a small Gaussian mixture, then resume."""

import json
import pathlib

import numpy as np
import pytest

from efficient_jax import core
from efficient_jax.trainers import _cascade_pool, cascades

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _config():
    config = core.load_config(str(REPO_ROOT / "configs/cascades_mixture.py:runlocal"))
    config.num_train, config.num_test = 512, 300
    config.num_steps = 8
    config.checkpoint_every = 8
    config.measure_latency = False  # online_cascade is covered in cascade_members_test
    config.members = config.members[:2]
    config.num_budgets = 2
    config.fixed_cascades = [("mlp16_s0", "mlp64_s0")]
    return config


def test_cascades_trainer_smoke_and_resume(tmp_path, fast_compile):
    config = _config()
    results = cascades.train_and_evaluate(config, str(tmp_path))
    for key in (
        "best_single_accuracy",
        "cascade2_avg_flops",
        "cascade2_vs_best_single_flops_ratio",
        "mlp16_s0_flops",
    ):
        assert key in results
    assert results["mlp16_s0_flops"] == 2 * (64 * 16 + 16 * 20)
    detail = json.loads((tmp_path / "cascades.json").read_text())
    assert len(detail["singles"]) == 2 and detail["curve"]
    assert detail["fixed"][0]["members"] == "mlp16_s0+mlp64_s0"
    assert "mlp16_s0+mlp64_s0_logits_flops_ratio" in results
    assert (tmp_path / "cascade_acc_vs_flops.png").stat().st_size > 0
    assert (tmp_path / "logits" / "mlp64_s0.npz").exists()
    again = cascades.train_and_evaluate(config, str(tmp_path))  # cached logits, checkpoints
    for k, v in results.items():
        if "latency" not in k:
            np.testing.assert_allclose(again[k], v, err_msg=k)


def test_bad_member_config(tmp_path):
    config = _config()
    config.members = [dict(name="a", model="mlp", base="nope")]
    with pytest.raises(ValueError, match="base"):
        cascades.train_and_evaluate(config, str(tmp_path))
    config.members = [dict(name="a", model="mlp", colour="red")]
    with pytest.raises(ValueError, match="Unknown member key"):
        cascades.train_and_evaluate(config, str(tmp_path))
    with pytest.raises(ValueError, match="Unknown model"):
        _cascade_pool.build_model("resnet7", {})
