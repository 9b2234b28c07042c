"""NNX interop: a Linen model wrapped with ``nnx.bridge.ToNNX``, and ``nnx.split``/``nnx.merge``."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from efficient_jax import models


def test_to_nnx_matches_linen_and_split_merge_roundtrip():
    model = models.ResNet(depth=8)
    x = jnp.linspace(0.0, 1.0, 2 * 8 * 8 * 3).reshape(2, 8, 8, 3)
    nnx_model = nnx.bridge.ToNNX(model, rngs=nnx.Rngs(0)).lazy_init(x)

    # The NNX state holds exactly the Linen variables: Param <-> params, BatchStat <-> batch_stats.
    graphdef, params, stats, rest = nnx.split(nnx_model, nnx.Param, nnx.BatchStat, ...)
    variables = {"params": nnx.to_pure_dict(params), "batch_stats": nnx.to_pure_dict(stats)}
    expected_shapes = jax.tree.map(jnp.shape, jax.eval_shape(model.init, jax.random.key(0), x))
    assert jax.tree.map(jnp.shape, variables) == expected_shapes

    linen_out = model.apply(variables, x, train=False)
    np.testing.assert_allclose(nnx_model(x, train=False), linen_out, rtol=1e-6)

    merged = nnx.merge(graphdef, params, stats, rest)
    np.testing.assert_allclose(merged(x, train=False), linen_out, rtol=1e-6)

    # Training through the bridge updates the NNX BatchStat variables in place.
    before = nnx.to_pure_dict(nnx.state(merged, nnx.BatchStat))
    merged(x, train=True, mutable=["batch_stats"])
    after = nnx.to_pure_dict(nnx.state(merged, nnx.BatchStat))
    assert not np.allclose(before["bn1"]["mean"], after["bn1"]["mean"])
