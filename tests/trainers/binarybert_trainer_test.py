"""Smoke test of the BinaryBERT trainer (``configs/binarybert_tiny_bert_sst2.py:runlocal``)."""

import json
import math
import pathlib

from efficient_jax import core
from efficient_jax.trainers import binarybert
from efficient_jax.trainers._binarybert_analysis import GROUP_REGEX

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_binarybert_runlocal_pipeline(tmp_path, fast_compile, data_dir):
    config = core.load_config(str(REPO_ROOT / "configs/binarybert_tiny_bert_sst2.py:runlocal"))
    config.data_dir = str(data_dir)
    config.train_limit, config.test_limit = 64, 32
    config.adaptive_budgets = (0.5,)
    r = binarybert.train_and_evaluate(config, str(tmp_path))

    # TWS is function-preserving: the split binary model scores exactly what the ternary one did.
    assert r["tws_at_split_accuracy"] == r["ternary_accuracy"]
    assert r["tws_bytes"] < r["fp_bytes"] and r["fp_vs_tws_size_ratio"] > 1
    assert r["half_binary_bytes"] <= r["adaptive_50_bytes"] <= r["tws_bytes"]
    for k, v in r.items():
        assert math.isfinite(float(v)), k
        if k.endswith("_accuracy") and not k.startswith("tws_minus"):
            assert 0.0 <= v <= 1.0, (k, v)
    groups = {k.split("/")[2] for k in r if k.startswith("lambda_max/fp/")}
    assert groups == set(GROUP_REGEX)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["tws_accuracy"] == r["tws_accuracy"]
    for png in ("accuracy_vs_size.png", "sharpness.png", "curves.png"):
        assert (tmp_path / png).stat().st_size > 0, png
