"""Two-step smoke tests of every trainer through the real entry point, plus CLI parsing."""

import json
import os
import pathlib
import pkgutil
import subprocess
import sys

import pytest

from efficient_jax import compressors, core, trainers
from efficient_jax.trainers import available_trainers, classification, quickstart

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _tiny(config, **kw):
    config.num_steps = 2
    config.log_every = 1
    config.checkpoint_every = 0
    config.eval_every = 0
    config.warmup_steps = 0
    for k, v in kw.items():
        setattr(config, k, v)
    return config


def test_available_trainers():
    assert {"classification", "quickstart"} <= set(available_trainers())
    # Every public module of efficient_jax.trainers is registered, under its own name.
    modules = {m.name for m in pkgutil.iter_modules(trainers.__path__) if m.name[0] != "_"}
    assert set(available_trainers()) == modules
    assert all(trainers.TRAINERS[n] == f"efficient_jax.trainers.{n}" for n in modules)
    assert callable(trainers.get_trainer("classification").train_and_evaluate)
    with pytest.raises(ValueError, match="Unknown trainer 'clasification'; valid: .*'darts'"):
        trainers.get_trainer("clasification")


def test_quickstart_two_steps(tmp_path):
    # Every compressor runs in tests/compressors_contract_test.py (and the whole quickstart in CI);
    # this checks the table, results and plot on four cheap ones.
    names = ["ptq_w8", "ptq_w4", "magnitude_prune_80", "deep_kmeans_scalar16"]
    assert set(names) <= set(compressors.available_compressors())
    config = _tiny(core.load_config(str(REPO_ROOT / "configs/quickstart.py")), calib_size=64)
    config.compressors = tuple(names)
    rows = quickstart.train_and_evaluate(config, str(tmp_path))
    assert [r["method"] for r in rows] == ["float32", *names]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["ptq_w4/compression_ratio"] > results["ptq_w8/compression_ratio"] > 3.0
    assert results["magnitude_prune_80/macs"] < results["float32/macs"]
    assert (tmp_path / "accuracy_vs_size.png").stat().st_size > 1000
    assert (tmp_path / "config.json").exists() and (tmp_path / "metrics.jsonl").exists()


@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_classification_digits_two_steps(tmp_path, fast_compile, model):
    config = core.load_config(str(REPO_ROOT / f"configs/classification_digits.py:model={model}"))
    state = classification.train_and_evaluate(_tiny(config), str(tmp_path))
    assert int(state["step"]) == 2
    assert 0.0 <= json.loads((tmp_path / "results.json").read_text())["test_accuracy"] <= 1.0


@pytest.mark.parametrize("config_file", ["resnet20_cifar10.py", "tiny_bert_sst2.py"])
def test_real_data_configs_runlocal(tmp_path, fast_compile, config_file, monkeypatch, data_dir):
    monkeypatch.setenv("EFFICIENT_JAX_CACHE", str(tmp_path / "cache"))
    config = core.load_config(str(REPO_ROOT / f"configs/{config_file}:runlocal"))
    config = _tiny(config, data_dir=str(data_dir), train_limit=64, test_limit=32)
    state = classification.train_and_evaluate(config, str(tmp_path / "run"))
    assert int(state["step"]) == 2


def test_batch_size_must_divide_devices(tmp_path):
    config = _tiny(core.load_config(str(REPO_ROOT / "configs/quickstart.py")), batch_size=12)
    with pytest.raises(ValueError, match="batch_size=12 must be a positive multiple of the 8"):
        quickstart.train_and_evaluate(config, str(tmp_path))


def test_unknown_compressor_fails_before_training(tmp_path):
    config = _tiny(core.load_config(str(REPO_ROOT / "configs/quickstart.py")))
    config.compressors = ["zip"]
    with pytest.raises(ValueError, match="Unknown compressor 'zip'; valid:"):
        quickstart.train_and_evaluate(config, str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()


def _main(*args, cwd=REPO_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "efficient_jax.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def test_cli_unknown_config_key_lists_valid_keys(tmp_path):
    out = _main("--config=configs/quickstart.py", f"--workdir={tmp_path}", "--config.nm_steps=3")
    assert out.returncode != 0
    assert "Unknown config key 'nm_steps'" in out.stderr and "'num_steps'" in out.stderr


def test_cli_unknown_trainer_lists_registered_ones(tmp_path):
    out = _main("--config=configs/quickstart.py", f"--workdir={tmp_path}", "--config.trainer=nope")
    assert out.returncode != 0
    assert "Unknown trainer 'nope'; valid: [" in out.stderr and "'quickstart'" in out.stderr


def test_cli_override_and_variant(tmp_path):
    out = _main(
        "--config=configs/classification_digits.py:model=mlp,runlocal",
        f"--workdir={tmp_path}",
        "--config.num_steps=3",
        "--config.log_every=1",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["num_steps"] == 3 and config["model"] == "mlp"
    assert json.loads((tmp_path / "results.json").read_text())["steps"] == 3


def test_trainer_resume_after_preemption_matches_uninterrupted_run(tmp_path, monkeypatch):
    """20 steps straight vs. SIGTERM at step 10 + re-run in the same workdir: identical params."""
    import signal

    import jax
    import numpy as np

    from efficient_jax.trainers import _pipeline

    def config():
        c = core.load_config(str(REPO_ROOT / "configs/classification_digits.py:model=mlp"))
        return _tiny(c, num_steps=20, log_every=5, checkpoint_every=5)

    straight = classification.train_and_evaluate(config(), str(tmp_path / "a"))

    original = _pipeline.batch_fn

    def preempting_batch_fn(s):
        fn = original(s)

        def wrapped(step):
            if step == 10:
                os.kill(os.getpid(), signal.SIGTERM)
            return fn(step)

        return wrapped

    monkeypatch.setattr(_pipeline, "batch_fn", preempting_batch_fn)
    with pytest.raises(SystemExit):
        classification.train_and_evaluate(config(), str(tmp_path / "b"))
    monkeypatch.setattr(_pipeline, "batch_fn", original)
    resumed = classification.train_and_evaluate(config(), str(tmp_path / "b"))
    assert int(resumed["step"]) == 20
    for a, b in zip(jax.tree.leaves(straight["params"]), jax.tree.leaves(resumed["params"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
