"""train.load_float_variables (the three float-model sources) and train.calibration_batches."""

import json

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from efficient_jax import train


def _config(**fields):
    base = {"init_from_pytorch": "", "float_workdir": "", "float_steps": 0, "num_steps": 300}
    return ml_collections.ConfigDict({**base, **fields})


def _no_call(*args):
    raise AssertionError("must not be called")


def test_float_steps_trains_in_workdir_float_with_float_steps(tmp_path):
    seen = {}

    def train_fn(fconfig, directory):
        seen.update(steps=fconfig.num_steps, directory=directory)
        return {"params": {"w": jnp.ones(2)}, "batch_stats": {"m": jnp.zeros(2)}, "step": 3}

    v = train.load_float_variables(
        _config(float_steps=7), str(tmp_path), state_template=_no_call, train_fn=train_fn
    )
    assert seen == {"steps": 7, "directory": f"{tmp_path}/float"}
    assert sorted(v) == ["batch_stats", "params"] and isinstance(v["params"]["w"], np.ndarray)


def test_float_workdir_restores_its_latest_checkpoint(tmp_path):
    fdir = tmp_path / "fp"
    fdir.mkdir()
    (fdir / "config.json").write_text(json.dumps({"model": "mlp", "num_steps": 5}))
    state = {"params": {"w": jnp.arange(3.0)}, "step": jnp.array(5)}
    ckpt = train.Checkpointer(fdir / "checkpoints")
    ckpt.save(5, state, force=True)
    ckpt.close()
    seen = []

    def template(fconfig):
        seen.append(fconfig.model)
        return {"params": {"w": jnp.zeros(3)}, "step": jnp.array(0)}

    config = _config(float_workdir=str(fdir), float_steps=9)  # float_workdir comes first
    v = train.load_float_variables(
        config, str(tmp_path), state_template=template, train_fn=_no_call
    )
    assert seen == ["mlp"] and v["params"]["w"].tolist() == [0.0, 1.0, 2.0]


def test_missing_sources_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="No float model"):
        train.load_float_variables(_config(), str(tmp_path), state_template=None, train_fn=None)
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        train.load_float_variables(
            _config(float_workdir=str(tmp_path)), str(tmp_path), state_template=None, train_fn=None
        )
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        train.load_float_variables(
            _config(float_workdir=str(tmp_path)),
            str(tmp_path),
            state_template=lambda c: {"step": jnp.array(0)},
            train_fn=None,
        )


def test_calibration_batches_are_the_first_shuffled_batches_preprocessed():
    ds = {"image": np.arange(20.0)[:, None], "label": np.arange(20)}
    out = train.calibration_batches(ds, 3, 4, seed=7, preprocess=lambda b, key: {**b, "key": key})
    assert len(out) == 3 and all(b["key"] is None for b in out)
    from efficient_jax import data

    for i, b in enumerate(out):
        assert np.array_equal(b["label"], data.batch_at(ds, i, 4, seed=7)["label"])
    with pytest.raises(ValueError, match="must be positive"):
        train.calibration_batches(ds, 0, 4, seed=0)
