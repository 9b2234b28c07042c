"""The QAT trainer end to end on digits (runlocal), and the real-data configs' smoke variants."""

import json
import pathlib

import pytest

from efficient_jax import core
from efficient_jax.trainers import qat

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("preset", ["lsq_w4a4", "twn_a8"])
def test_qat_digits_runlocal(tmp_path, fast_compile, preset):
    config = core.load_config(
        str(REPO_ROOT / f"configs/qat_lenet5_digits.py:preset={preset},runlocal")
    )
    results = qat.train_and_evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["steps"] == 4
    for key in ("float_accuracy", "ptq_accuracy", "qat_accuracy", "serving_accuracy"):
        assert 0.0 <= saved[key] <= 1.0
    # The packed serving model computes what the fake-quant model computes.
    assert abs(results["serving_accuracy"] - results["qat_accuracy"]) <= 1 / 360 + 1e-9
    assert saved["compression_ratio"] > (6.0 if preset == "lsq_w4a4" else 10.0)


def test_qat_unknown_preset_fails_before_work(tmp_path):
    config = core.load_config(str(REPO_ROOT / "configs/qat_lenet5_digits.py:runlocal"))
    config.quant.preset = "w3a3"
    with pytest.raises(ValueError, match="Unknown quantization preset 'w3a3'; valid:"):
        qat.train_and_evaluate(config, str(tmp_path))
    assert not (tmp_path / "float").exists()


def test_qat_needs_a_float_model(tmp_path):
    config = core.load_config(str(REPO_ROOT / "configs/qat_lenet5_digits.py:runlocal"))
    config.float_steps = 0
    with pytest.raises(ValueError, match="No float model"):
        qat.train_and_evaluate(config, str(tmp_path))


@pytest.mark.parametrize("config_file", ["qat_resnet20_cifar10.py", "qat_tiny_bert_sst2.py"])
def test_qat_real_data_configs_runlocal(tmp_path, fast_compile, config_file, monkeypatch, data_dir):
    monkeypatch.setenv("EFFICIENT_JAX_CACHE", str(tmp_path / "cache"))
    config = core.load_config(str(REPO_ROOT / f"configs/{config_file}:runlocal,steps=2"))
    config.data_dir = str(data_dir)
    results = qat.train_and_evaluate(config, str(tmp_path / "run"))
    assert results["steps"] == 2 and results["compression_ratio"] > 3.0
