"""Predictors: one fit/predict interface; MLP vmaps over an ensemble and over runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.nas.predictors import (
    GPPredictor,
    MLPPredictor,
    SklearnPredictor,
    mlp_fit,
    mlp_predict,
)


def _data(n=60, d=6, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x, (x[:, 0] + 0.5 * x[:, 1] ** 2).astype(np.float32)


@pytest.mark.parametrize(
    "pred",
    [
        MLPPredictor(hidden=(32,), epochs=100, ensemble=2),
        GPPredictor(),
        SklearnPredictor("rf", {"n_estimators": 10}),
        SklearnPredictor("gbdt", {"n_estimators": 20}),
    ],
)
def test_fit_predict_interface(pred):
    x, y = _data()
    mean, std = pred.predict(pred.fit(x, y, key=jax.random.key(0)), x)
    assert mean.shape == std.shape == (60,) and (np.asarray(std) >= 0).all()
    assert np.corrcoef(mean, y)[0, 1] > 0.8
    with pytest.raises(ValueError, match="fit needs"):
        pred.fit(x, y[:3], key=jax.random.key(0))


def test_mlp_vmaps_over_runs_with_padding():
    x, y = _data(40)
    xs = jnp.stack([x, x[::-1]])
    ys = jnp.stack([y, y[::-1]])
    mask = jnp.ones((2, 48), bool).at[:, 40:].set(False)
    pad = lambda a: jnp.concatenate([a, jnp.zeros((2, 8) + a.shape[2:])], 1)
    fit = jax.vmap(lambda k, a, b, m: mlp_fit(k, a, b, m, hidden=(16,), epochs=50))
    params, mu, sd = fit(jax.random.split(jax.random.key(0), 2), pad(xs), pad(ys), mask)
    assert mu.shape == (2,)
    np.testing.assert_allclose(mu, [y.mean(), y.mean()], rtol=1e-5)
    preds = jax.vmap(mlp_predict, in_axes=(0, 0, 0, None))(params, mu, sd, x)
    assert preds.shape == (2, 40) and np.isfinite(preds).all()


def test_unknown_sklearn_kind():
    with pytest.raises(ValueError, match="Unknown sklearn predictor"):
        SklearnPredictor("svm")
