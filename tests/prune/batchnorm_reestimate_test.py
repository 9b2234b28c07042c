"""BatchNorm statistics re-estimated on a batch: eval mode then equals train mode on that batch."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import prune


class ConvBN(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        for i, c in enumerate((4, 6)):
            x = nn.Conv(c, (3, 3), name=f"conv{i}")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"bn{i}")(x)
            x = nn.relu(x)
        return nn.Dense(3, name="head")(x.mean((1, 2)))


def test_eval_with_reestimated_statistics_equals_train_mode():
    x = 2.0 + 3.0 * jax.random.normal(jax.random.key(0), (8, 6, 6, 2))
    model = ConvBN()
    v = model.init(jax.random.key(1), x)
    train_out, _ = model.apply(v, x, train=True, mutable=["batch_stats"])
    new = prune.reestimate_batch_stats(model, v, x)
    assert not np.allclose(model.apply(v, x), train_out, atol=1e-3)  # stale statistics differ
    np.testing.assert_allclose(model.apply(new, x), train_out, atol=2e-5)
    # the input variables are untouched and params are shared
    np.testing.assert_array_equal(v["batch_stats"]["bn0"]["mean"], np.zeros(4))
    assert new["params"] is v["params"]


def test_needs_batch_stats():
    with pytest.raises(ValueError, match="batch_stats"):
        prune.reestimate_batch_stats(ConvBN(), {"params": {}}, jnp.ones((1, 4, 4, 2)))
