"""Cascade members from Flax models: logits, FLOPs, self-cascades, the online cascade."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import cascade, cost
from efficient_jax.models import MLP


def test_compute_logits_batches_and_preprocess():
    model = MLP(features=(8,), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (7, 4, 4, 1))
    v = model.init(jax.random.key(1), x)
    full = model.apply(v, x * 2.0)
    out = cascade.compute_logits(model.apply, v, x, batch_size=3, preprocess=lambda a: a * 2.0)
    np.testing.assert_allclose(out, full, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        cascade.compute_logits(model.apply, v, x, batch_size=0)


class _TinyConv(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        x = nn.Conv(4, (3, 3))(x)
        return nn.Dense(3)(jnp.mean(x, axis=(1, 2)))


def test_self_cascade_member_flops_scale_with_resolution():
    model = _TinyConv()
    x = jnp.ones((1, 8, 8, 1))
    v = model.init(jax.random.key(0), x)
    full = cascade.member_flops(model.apply, v, x)
    half = cascade.member_flops(cascade.at_resolution(model.apply, 4), v, x)
    resize = cost.macs(lambda a: cascade.resize_images(a, 4), x).flops  # resize is matmuls
    assert full == 2 * (64 * 9 * 4 + 4 * 3)
    assert half == 2 * (16 * 9 * 4 + 4 * 3) + resize
    up = cascade.resize_images(x, 12)
    assert up.shape == (1, 12, 12, 1)
    np.testing.assert_allclose(up, 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="batch of one"):
        cascade.member_flops(model.apply, v, jnp.zeros((2, 8, 8, 1)))


@pytest.mark.parametrize("combine", ["logits", "last"])
def test_online_cascade_matches_cached_logits(combine):
    model = MLP(features=(16,), num_classes=4)
    x = jax.random.normal(jax.random.key(0), (12, 6))
    vs = [model.init(jax.random.key(i), x) for i in range(3)]
    logits = np.stack([model.apply(v, x) for v in vs])
    t = [0.4, 0.5]
    ref = cascade.cascade(logits, t, [1.0, 1.0, 1.0], combine=combine)
    fn = jax.jit(cascade.online_cascade([model.apply] * 3, t, combine=combine))
    for i in range(x.shape[0]):
        scores, stage = fn(vs, x[i : i + 1])
        assert int(stage) == int(ref.exit_stage[i])
        assert int(scores.argmax()) == int(ref.prediction[i])
