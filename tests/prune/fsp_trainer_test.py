"""The few-shot pruning trainer end to end on digits (LeNet-5 teacher trained in the run)."""

import json

import pytest

from efficient_jax.core import load_config
from efficient_jax.trainers import few_shot_pruning


def _config(**overrides):
    config = load_config("configs/few_shot_pruning_resnet20_cifar10.py:k=2,runlocal")
    config.dataset = "digits"
    config.model = "lenet5"
    config.init_from_pytorch = ""
    config.pretrain_steps = 40
    config.checkpoint_every = 0
    config.batch_size = 32
    config.eval_batch_size = 64
    config.test_limit = 0
    config.layer_steps = 3
    config.rules = (("^conv2$", 0.5), ("^fc2$", 0.5))
    config.methods = ("l1_norm", "cd")
    for k, v in overrides.items():
        config[k] = v
    return config


@pytest.mark.usefixtures("fast_compile")
def test_trainer_runs_and_exports(tmp_path):
    results = few_shot_pruning.train_and_evaluate(_config(), str(tmp_path))
    for method in ("l1_norm", "cd"):
        assert 0.0 <= results[f"{method}/top1"] <= 1.0
        assert f"{method}/top1_bn" not in results  # LeNet-5 has no BatchNorm to re-estimate
    assert results["export/params_slim"] < results["export/params_dense"]
    assert results["export/macs_slim"] < results["export/macs_dense"]
    assert results["export/max_abs_logit_diff"] < 1e-4
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["k"] == 2
    # A restart reuses the finished runs.
    again = few_shot_pruning.train_and_evaluate(_config(), str(tmp_path))
    assert again["cd/top1"] == results["cd/top1"]


def test_trainer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="examples per class"):
        few_shot_pruning.train_and_evaluate(_config(k=10_000), str(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        few_shot_pruning.train_and_evaluate(_config(rules=(("^conv2$", 1.0),)), str(tmp_path / "b"))
    with pytest.raises(ValueError, match="matches no Conv/Dense layer"):
        few_shot_pruning.train_and_evaluate(_config(rules=(("^conv7$", 0.5),)), str(tmp_path / "d"))
    with pytest.raises(ValueError, match="methods must be"):
        few_shot_pruning.train_and_evaluate(_config(methods=("fitnet",)), str(tmp_path / "c"))


def test_config_variants():
    r20 = load_config("configs/few_shot_pruning_resnet20_cifar10.py:k=10,mode=unstructured90")
    assert r20.k == 10 and r20.structure == "unstructured" and r20.rules[0][1] == 0.9
    vgg = load_config("configs/few_shot_pruning_vgg_small_cifar10.py:k=5,runlocal")
    assert vgg.model == "vgg_small" and vgg.pretrain_steps > 0 and vgg.structure == "channel"
    assert (vgg.mu, vgg.alpha, vgg.beta) == (0.6, 0.9, 0.3)
    with pytest.raises(ValueError, match="mode must be one of"):
        load_config("configs/few_shot_pruning_resnet20_cifar10.py:mode=channel70")
