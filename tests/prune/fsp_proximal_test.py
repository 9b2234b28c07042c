"""Proximal operators, top-k projections and the kept-fraction ramp against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import prune


def test_prox_l1_matches_soft_threshold(key):
    w = jax.random.normal(key, (50,))
    lam = 0.3
    want = np.where(w > lam, w - lam, np.where(w < -lam, w + lam, 0.0))
    np.testing.assert_allclose(prune.prox_l1(w, lam), want, atol=1e-7)


def test_prox_group_l2_zeroes_exactly_small_groups(key):
    w = jax.random.normal(key, (3, 3, 6, 4))
    norms = np.sqrt((np.asarray(w) ** 2).sum(axis=(0, 1, 3)))
    lam = float(np.median(norms))
    out = np.asarray(prune.prox_group_l2(w, lam))
    for i in range(6):
        group, orig = out[:, :, i, :], np.asarray(w)[:, :, i, :]
        if norms[i] <= lam:
            assert np.all(group == 0)
        else:
            np.testing.assert_allclose(group, (1 - lam / norms[i]) * orig, rtol=1e-5)


def test_prox_rejects_negative_lambda():
    with pytest.raises(ValueError, match="λ must be >= 0"):
        prune.prox_l1(jnp.ones(3), -1.0)
    with pytest.raises(ValueError, match="λ must be >= 0"):
        prune.prox_group_l2(jnp.ones((2, 2)), -0.1)


def test_channel_norms_l1_and_l2():
    k = jnp.arange(12.0).reshape(2, 3, 2)  # Dense-like (c_in=3 on axis -2).
    np.testing.assert_allclose(prune.channel_norms(k, 1), np.abs(np.asarray(k)).sum(axis=(0, 2)))
    np.testing.assert_allclose(
        prune.channel_norms(k, 2), np.sqrt((np.asarray(k) ** 2).sum(axis=(0, 2))), rtol=1e-6
    )


def test_topk_masks_keep_exact_counts_and_largest(key):
    w = jax.random.normal(key, (3, 3, 8, 5))
    m = prune.topk_mask(w, 0.25)
    assert m.dtype == jnp.bool_ and int(m.sum()) == round(0.25 * w.size)
    assert float(jnp.min(jnp.abs(w)[m])) >= float(jnp.max(jnp.abs(w)[~m]))
    keep = prune.topk_channel_mask(w, 0.5)
    assert keep.shape == (8,) and int(keep.sum()) == 4
    norms = prune.channel_norms(w)
    assert float(norms[keep].min()) >= float(norms[~keep].max())


def test_kept_fraction_ramp():
    assert float(prune.kept_fraction(0, 300, 0.9)) == pytest.approx(1.0)
    assert float(prune.kept_fraction(50, 300, 0.9)) == pytest.approx(0.55)
    assert float(prune.kept_fraction(100, 300, 0.9)) == pytest.approx(0.1)
    assert float(prune.kept_fraction(299, 300, 0.9)) == pytest.approx(0.1)
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"sparsity must be in \[0, 1\)"):
            prune.kept_fraction(0, 10, bad)
