"""Input validation of the MREM/PTQ harness (runs before any data is loaded)."""

import pathlib

import pytest

from efficient_jax.core import load_config
from efficient_jax.trainers import mrem

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "mrem_tiny_bert_sst2.py"


def _config(**overrides):
    config = load_config(f"{CONFIG}:runlocal")
    for k, v in overrides.items():
        setattr(config, k, v)
    return config


def test_valid_config_passes():
    cfg, rules = mrem.validate(_config(method="mrem_par", bits="w2e2a8"))
    assert cfg.steps == 3 and rules[-1].weight_bits == 2


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_modules": 5}, "larger than the number of transformer layers"),
        ({"calib_size": 4}, "smaller than one batch"),
        ({"bits": "w9e9a8"}, r"integer in 2\.\.8"),
        ({"bits": "w1e2a8"}, r"integer in 2\.\.8"),
        ({"method": "gptq"}, "Unknown config.method"),
    ],
)
def test_bad_inputs_raise(overrides, message):
    with pytest.raises(ValueError, match=message):
        mrem.validate(_config(**overrides))


def test_too_few_devices_for_parallel(monkeypatch):
    monkeypatch.setattr(mrem.jax, "device_count", lambda: 2)
    monkeypatch.setattr(mrem.jax, "devices", lambda: [object(), object()])
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        mrem.validate(_config(method="mrem_par"))
