"""Contract of every registered compressor (``efficient_jax.compressors.available_compressors()``).

On the digits LeNet-5 (trained once per module, briefly, as the quickstart does), each compressor
``fn(variables, *, apply_fn, calib_batch)`` returns a :class:`~efficient_jax.core.CompressionResult`
with the documented fields, its variables evaluate to finite logits of the right shape, and it is
deterministic: compressors take no key, so two runs on the same inputs (same training seed, same
calibration batch) give the same bytes, figures and outputs. A new compressor is covered as soon
as it is registered.
"""

import numbers
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import compressors, core, data, train
from efficient_jax.trainers import _pipeline, classification

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
NAMES = compressors.available_compressors()
CALIB = 64  # calibration / fine-tuning examples, as in the quickstart smoke test
# Run twice for determinism: every compressor except these, the slowest ones (~10 s a run on 2
# cores). They fine-tune full-batch on the calibration batch with fixed keys, like
# ``magnitude_prune_80_ft``, which is checked; running them twice would double the file's time.
_NOT_RERUN = {"bwn_tws", "lsq_w4a4_qat", "deep_kmeans_cr8", "magnitude_prune_50_ft"}
# 64 examples hold fewer than K = 5 of some digits: few-shot pruning says so and uses K = 2.
pytestmark = pytest.mark.filterwarnings("ignore:The calibration batch has only:UserWarning")


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """``(model, float variables, calibration batch)``: LeNet-5 after 20 steps on digits."""
    config = core.load_config(str(REPO_ROOT / "configs/quickstart.py"))
    config.num_steps, config.log_every = 20, 20
    config.checkpoint_every = config.eval_every = 0
    workdir = str(tmp_path_factory.mktemp("lenet5"))
    s = _pipeline.setup(config)
    state = classification.train_model(s, workdir, train.MetricWriter(workdir))
    variables = jax.device_get(train.state_variables(state))
    calib = data.batch_at(s.train_data, 0, CALIB, seed=config.seed)
    return s.model, variables, s.preprocess(jax.tree.map(jnp.asarray, calib), None)


@pytest.fixture(scope="module")
def compressed(lenet):
    """``name -> (result, logits on the calibration images)``, each compressor run once."""
    model, variables, calib = lenet
    cache = {}

    def run(name, *, again=False):
        if again or name not in cache:
            result = compressors.get_compressor(name)(
                variables, apply_fn=model.apply, calib_batch=calib
            )
            apply_fn = result.apply_fn or model.apply
            logits = np.asarray(apply_fn(result.variables, calib["image"], train=False))
            if again:
                return result, logits
            cache[name] = result, logits
        return cache[name]

    return run


def test_registry_lists_compressors():
    assert len(NAMES) == len(set(NAMES)) >= 10
    with pytest.raises(ValueError, match="Unknown compressor 'ptq_w3'; valid: .*'ptq_w4'"):
        compressors.get_compressor("ptq_w3")


@pytest.mark.parametrize("name", NAMES)
def test_returns_documented_fields_and_finite_logits(name, compressed):
    result, logits = compressed(name)
    assert isinstance(result, core.CompressionResult)
    assert type(result.model_bytes) is int and result.model_bytes > 0
    assert result.macs is None or (type(result.macs) is int and result.macs > 0)
    assert isinstance(result.info, dict)
    for k, v in result.info.items():
        assert isinstance(k, str) and isinstance(v, numbers.Real) and np.isfinite(v), (k, v)
    assert result.apply_fn is None or callable(result.apply_fn)
    assert jax.tree.leaves(result.variables), "no arrays in the compressed variables"
    assert logits.shape == (CALIB, 10) and np.isfinite(logits).all()


@pytest.mark.parametrize("name", [n for n in NAMES if n not in _NOT_RERUN])
def test_deterministic(name, compressed):
    first, first_logits = compressed(name)
    again, again_logits = compressed(name, again=True)
    assert again.model_bytes == first.model_bytes and again.macs == first.macs
    assert again.info == first.info
    np.testing.assert_array_equal(again_logits, first_logits)
    for a, b in zip(jax.tree.leaves(first.variables), jax.tree.leaves(again.variables)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
