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


def test_sklearn_stopping_rule_stops_at_the_expected_epoch():
    # tol huge: epoch 1 sets the best loss, every later epoch counts as "no improvement", so the
    # rule stops after 1 + (n_iter_no_change + 1) epochs; full batch makes the RNG irrelevant.
    x, y = _data(40)
    mask = jnp.ones(40, bool)
    kw = dict(hidden=(16,), batch_size=200)
    stopped, *_ = mlp_fit(
        jax.random.key(0), x, y, mask, epochs=50, tol=1e9, n_iter_no_change=3, **kw
    )
    fixed5, *_ = mlp_fit(jax.random.key(0), x, y, mask, epochs=5, **kw)
    fixed6, *_ = mlp_fit(jax.random.key(0), x, y, mask, epochs=6, **kw)
    for a, b in zip(jax.tree.leaves(stopped), jax.tree.leaves(fixed5)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(stopped[0]["w"], fixed6[0]["w"])
    # Never triggered: identical to training every epoch.
    never, *_ = mlp_fit(
        jax.random.key(0), x, y, mask, epochs=30, tol=-1e9, n_iter_no_change=2, **kw
    )
    full, *_ = mlp_fit(jax.random.key(0), x, y, mask, epochs=30, **kw)
    for a, b in zip(jax.tree.leaves(never), jax.tree.leaves(full)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_sklearn_stopping_rule_is_per_member_under_vmap():
    x, y = _data(40)
    mask = jnp.ones(40, bool)
    kw = dict(hidden=(16,), batch_size=200, epochs=60, tol=1e-3, n_iter_no_change=2)
    # A constant target converges at once; the real one keeps improving for longer.
    ys = jnp.stack([jnp.zeros_like(y), y])
    both, *_ = jax.vmap(lambda t: mlp_fit(jax.random.key(1), x, t, mask, **kw))(ys)
    for i in range(2):
        solo, *_ = mlp_fit(jax.random.key(1), x, ys[i], mask, **kw)
        for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(solo)):
            np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6)
    full, *_ = mlp_fit(jax.random.key(1), x, ys[0], mask, **{**kw, "n_iter_no_change": None})
    assert not np.allclose(both[0]["w"][0], full[0]["w"])
