"""The CD / SCD losses reduce to their special cases (Bai 2021, Eqs. 3.1–3.4, 3.14–3.15)."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from efficient_jax import prune


@pytest.fixture
def problem(key):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    f = prune.layer_function(nn.Conv(5, (3, 3), padding="SAME", use_bias=False))
    w_t = {"kernel": jax.random.normal(k1, (3, 3, 4, 5))}
    w_s = {"kernel": jax.random.normal(k2, (3, 3, 4, 5))}
    h_t = jax.random.normal(k3, (2, 6, 6, 4))
    h_s = jax.random.normal(k4, (2, 6, 6, 4))
    return f, w_s, w_t, h_t, h_s


def test_cd_endpoints(problem):
    f, *args = problem
    cd = lambda mu: float(prune.cross_distillation_loss(f, *args, mu=mu))  # noqa: E731
    np.testing.assert_allclose(cd(1.0), float(prune.correction_loss(f, *args)), rtol=1e-6)
    np.testing.assert_allclose(cd(0.0), float(prune.imitation_loss(f, *args)), rtol=1e-6)
    mid = 0.3 * cd(1.0) + 0.7 * cd(0.0)
    np.testing.assert_allclose(cd(0.3), mid, rtol=1e-5)


def test_scd_special_cases(problem):
    f, w_s, w_t, h_t, h_s = problem
    scd = lambda a, b, act=None: float(  # noqa: E731
        prune.soft_cross_distillation_loss(f, w_s, w_t, h_t, h_s, alpha=a, beta=b, activation=act)
    )
    np.testing.assert_allclose(
        scd(1, 1), float(prune.estimation_loss(f, w_s, w_t, h_t, h_s)), rtol=1e-6
    )
    np.testing.assert_allclose(
        scd(1, 0), float(prune.correction_loss(f, w_s, w_t, h_t, h_s)), rtol=1e-6
    )
    np.testing.assert_allclose(
        scd(0, 1), float(prune.imitation_loss(f, w_s, w_t, h_t, h_s)), rtol=1e-6
    )
    # With σ = ReLU, (1, 1) is the estimation error of the activations.
    relu_e = float(np.mean((nn.relu(f(w_t, h_t)) - nn.relu(f(w_s, h_s))) ** 2))
    np.testing.assert_allclose(scd(1, 1, nn.relu), relu_e, rtol=1e-6)


def test_estimation_zero_for_teacher_on_teacher_input(problem):
    f, _, w_t, h_t, _ = problem
    assert float(prune.estimation_loss(f, w_t, w_t, h_t, h_t)) == 0.0


def test_bad_mixing_coefficients(problem):
    f, *args = problem
    with pytest.raises(ValueError, match="mu must be in"):
        prune.cross_distillation_loss(f, *args, mu=1.5)
    with pytest.raises(ValueError, match="beta must be in"):
        prune.soft_cross_distillation_loss(f, *args, alpha=0.5, beta=-0.1)
    with pytest.raises(ValueError, match="method must be one of"):
        prune.LayerwiseConfig(method="fitnet")
    with pytest.raises(ValueError, match="structure must be one of"):
        prune.LayerwiseConfig(structure="block")
