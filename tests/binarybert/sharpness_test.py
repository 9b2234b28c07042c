"""Sharpness: power-iteration λ_max against a dense Hessian on a tiny model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import binarybert
from efficient_jax.models import MLP


def _tiny_loss():
    model = MLP(features=(4,), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (16, 3))
    y = jax.random.randint(jax.random.key(1), (16,), 0, 3)
    params = model.init(jax.random.key(2), x)["params"]

    def loss(p):
        logits = model.apply({"params": p}, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    return loss, params


def test_power_iteration_matches_dense_hessian():
    loss, params = _tiny_loss()
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    dense = jax.hessian(lambda f: loss(unravel(f)))(flat)
    eig = np.linalg.eigvalsh(np.asarray(dense, np.float64))
    top = eig[np.argmax(np.abs(eig))]
    lam, v = binarybert.top_hessian_eigenvalue(loss, params, num_iters=150)
    assert float(lam) == pytest.approx(top, rel=5e-3)
    # HVP equals the dense product.
    hv = binarybert.hvp(loss, params, v)
    np.testing.assert_allclose(
        jax.flatten_util.ravel_pytree(hv)[0],
        dense @ jax.flatten_util.ravel_pytree(v)[0],
        rtol=1e-3,
        atol=1e-5,
    )


def test_group_and_perturbation():
    loss, params = _tiny_loss()
    group, put = binarybert.group_params(params, ["head/kernel"])
    lam_head, _ = binarybert.top_hessian_eigenvalue(
        lambda g: loss(put(g)), group, num_iters=200, key=jax.random.key(3)
    )
    lam_all, _ = binarybert.top_hessian_eigenvalue(loss, params, num_iters=200)
    # A principal sub-block's top eigenvalue cannot exceed the full one (both PSD-dominated).
    assert float(lam_head) <= float(lam_all) * (1 + 1e-3)
    curve = binarybert.perturbation_curve(loss, params, [-0.5, 0.0, 0.5])
    assert curve[1] == pytest.approx(float(loss(params)), rel=1e-6)
    with pytest.raises(ValueError, match="num_iters"):
        binarybert.top_hessian_eigenvalue(loss, params, num_iters=0)
    with pytest.raises(ValueError, match="No parameter"):
        binarybert.group_params(params, ["nope/kernel"])
