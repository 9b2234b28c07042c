"""Smoke tests of the Deep k-Means trainer and compressors (a few steps on digits)."""

import json
import pathlib

import jax
import jax.numpy as jnp
import pytest

from efficient_jax import compressors, core, data, models, share
from efficient_jax.trainers import weight_sharing

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_weight_sharing_trainer_runlocal(tmp_path, fast_compile):
    config = core.load_config(str(REPO_ROOT / "configs/deep_kmeans_lenet5_digits.py:runlocal"))
    results = weight_sharing.train_and_evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved.keys() == results.keys()
    for run in ("wr", "lam0.01"):
        assert 0.0 <= saved[f"cr4/{run}/accuracy"] <= 1.0
        assert saved[f"cr4/{run}/model_cr_fixed"] > 1.0
        assert saved[f"cr4/{run}/energy"] < saved["base/energy"]
    assert (tmp_path / "drop_vs_cr.png").stat().st_size > 1000


def test_compressor_reports_ratio_and_energy(key, fast_compile):
    splits = data.load_digits()
    model = models.LeNet5(num_classes=10)
    batch = {k: jnp.asarray(v[:64]) for k, v in splits["train"].items()}
    variables = model.init(key, batch["image"][:1])
    result = compressors.get_compressor("deep_kmeans_wr_cr8")(
        variables, apply_fn=model.apply, calib_batch=batch
    )
    assert result.info["layer_cr_min"] >= 2.0 and result.info["energy_ratio"] > 1.0
    assert result.model_bytes < sum(x.nbytes for x in jax.tree.leaves(variables))
    conv2 = result.variables["params"]["conv2"]["kernel"]
    assert jnp.unique(share.rows_from_kernel(conv2), axis=0).shape[0] == 42


def test_share_with_k_equal_n_is_exact(key, fast_compile):
    kernel = jax.random.normal(key, (3, 3, 2, 2))
    tree = share.share_params({"k": kernel}, [("k", 12)], key=key)
    assert bool(jnp.allclose(share.expand_params(tree)["k"], kernel))


def test_trainer_rejects_empty_ratio_list(tmp_path):
    config = core.load_config(str(REPO_ROOT / "configs/deep_kmeans_lenet5_digits.py:runlocal"))
    config.ratios = []
    with pytest.raises(ValueError, match="config.ratios must be a non-empty list"):
        weight_sharing.train_and_evaluate(config, str(tmp_path))
