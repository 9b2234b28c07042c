"""Smoke test of trainers/darts.py: a 2-step search on random images, real NB201 lookup."""

import json

import pytest

from efficient_jax.core import load_config
from efficient_jax.trainers import darts


@pytest.mark.slow
@pytest.mark.data
def test_darts_trainer_smoke_and_resume(tmp_path, data_dir, fast_compile):
    config = load_config("configs/darts_nb201_cifar10.py:runlocal,method=tanglenas")
    config.data_dir = str(data_dir)
    config.dataset = "synthetic"
    config.channels, config.image_size, config.num_images = 2, 8, 64
    config.select_images, config.batch_size, config.num_steps = 16, 8, 2
    config.seeds, config.log_every, config.plot = (0,), 1, False
    results = darts.train_and_evaluate(config, str(tmp_path))
    for sel in ("argmax", "perturbation"):
        assert 10.0 <= results[f"tanglenas/{sel}/test_acc_mean"] <= 95.0
        assert results[f"tanglenas/{sel}/runs"] == 1
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert runs[0]["argmax"]["arch"].startswith("|")
    assert (tmp_path / "metrics.jsonl").exists()
    # a restart finds the finished run and does no new search
    assert darts.train_and_evaluate(config, str(tmp_path)) == results
    config.methods = ("enas",)
    with pytest.raises(ValueError, match="Unknown method"):
        darts.train_and_evaluate(config, str(tmp_path / "bad"))
