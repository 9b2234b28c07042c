"""score_cells: vmap over masks equals a Python loop and lax.map; NB201 masks go through."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.nas import proxies


class MaskedToy(nn.Module):
    """Two candidate hidden layers mixed by a 2-entry mask (a tiny masked supernet)."""

    @nn.compact
    def __call__(self, x, mask):
        a = nn.relu(nn.Dense(16, name="a")(x))
        b = jnp.tanh(nn.Dense(16, name="b")(x))
        return nn.Dense(3, name="head")(mask[0] * a + mask[1] * b)


@pytest.mark.parametrize("name", ["snip", "grad_norm", "l2_norm", "nwot", "jacov", "synflow"])
def test_vmap_over_masks_equals_loop(name):
    x = jax.random.normal(jax.random.key(0), (4, 12))  # jacov: 4×4 correlations of full rank
    batch = {"image": x, "label": jnp.arange(4) % 3}
    params = MaskedToy().init(jax.random.key(1), x, jnp.ones(2))["params"]
    masks = np.array([[1, 0], [0, 1], [1, 1]], np.float32)

    def apply_fn(p, x, train, m=None):
        return MaskedToy().apply({"params": p}, x, m)

    vm = proxies.score_cells(name, apply_fn, params, batch, masks, chunk_size=2, progress=False)
    mp = proxies.score_cells(
        name, apply_fn, params, batch, masks, chunk_size=2, mode="map", progress=False
    )
    fn = proxies.get_proxy(name)
    loop = [float(fn(functools.partial(apply_fn, m=m), params, batch)) for m in masks]
    np.testing.assert_allclose(vm, loop, rtol=1e-5)
    np.testing.assert_allclose(mp, loop, rtol=1e-5)


def test_l2_norm_counts_only_selected_branch():
    x = jnp.ones((2, 5))
    params = MaskedToy().init(jax.random.key(1), x, jnp.ones(2))["params"]

    def fn(m):
        return proxies.l2_norm(
            lambda p, x, t: MaskedToy().apply({"params": p}, x, m), params, {"image": x}
        )

    norm = lambda k: float(jnp.linalg.norm(params[k]["kernel"]))  # noqa: E731
    np.testing.assert_allclose(fn(jnp.array([1.0, 0.0])), norm("a") + norm("head"), rtol=1e-5)
    np.testing.assert_allclose(fn(jnp.array([0.0, 1.0])), norm("b") + norm("head"), rtol=1e-5)


def test_bad_arguments():
    batch = {"image": jnp.ones((2, 5)), "label": jnp.zeros(2, jnp.int32)}
    with pytest.raises(ValueError, match="at least one mask"):
        proxies.score_cells("snip", None, {}, batch, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="mode"):
        proxies.score_cells("snip", None, {}, batch, np.zeros((1, 2)), mode="pmap")
    r = proxies.rank_correlation([1, 2, 3, 4], [1, 2, 4, 3])
    assert r["n"] == 4 and 0 < r["kendall_tau"] < 1


def test_switch_edge_matches_mixed_supernet_on_one_hot_masks(fast_compile):
    from efficient_jax.nas.proxies._nb201 import SwitchEdge
    from efficient_jax.nas.spaces import NB201Cell
    from efficient_jax.nas.supernet import NB201Supernet, cells_to_masks

    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    mixed = NB201Supernet(channels=4, cells_per_stage=1)
    switch = NB201Supernet(channels=4, cells_per_stage=1, edge_cls=SwitchEdge)
    v = mixed.init(jax.random.key(1), x, jnp.full((6, 5), 0.2))
    masks = cells_to_masks([NB201Cell((3, 3, 1, 0, 2, 4)), NB201Cell((0, 1, 2, 3, 4, 4))])
    run = jax.jit(
        lambda ms: jax.lax.map(lambda m: (mixed.apply(v, x, m), switch.apply(v, x, m)), ms)
    )
    a, b = run(masks)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
