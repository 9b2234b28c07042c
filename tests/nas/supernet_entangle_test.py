"""TangleNAS weight entanglement: small masks equal the small ops, memory of the largest op."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.nas.spaces import NB201Cell
from efficient_jax.nas.supernet import (
    EntangledConv,
    EntangledEdge,
    MixedEdge,
    NB201Network,
    NB201Supernet,
    cell_to_mask,
    entangled_kernel,
    entangled_to_network_variables,
    kernel_size_masks,
)


@pytest.fixture(scope="module", autouse=True)
def _fast_compile_module():
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


def _conv(x, kernel):
    p = kernel.shape[0] // 2
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((p, p), (p, p)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def test_entangled_conv_with_small_masks_equals_small_op():
    conv = EntangledConv(features=6, kernel_sizes=(1, 3, 5), channel_choices=(2, 4, 6))
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 3))
    v = conv.init(jax.random.key(1), x, jnp.full((3,), 1 / 3), jnp.full((3,), 1 / 3))
    big = v["params"]["kernel"]
    assert big.shape == (5, 5, 3, 6)  # one max-size kernel only
    for i, k in enumerate((1, 3, 5)):
        for j, c in enumerate((2, 4, 6)):
            out = conv.apply(v, x, jnp.eye(3)[i], jnp.eye(3)[j])
            lo = (5 - k) // 2
            small = big[lo : lo + k, lo : lo + k, :, :c]  # the small op's own (sliced) weights
            ref = _conv(x, small)
            np.testing.assert_allclose(out[..., :c], ref, atol=1e-5)
            np.testing.assert_allclose(out[..., c:], 0.0, atol=1e-6)
    # mixing the weights = mixing the outputs (the conv is linear in its kernel)
    a = jnp.array([0.2, 0.5, 0.3])
    mixed = conv.apply(v, x, a, jnp.eye(3)[2])
    per = [conv.apply(v, x, jnp.eye(3)[i], jnp.eye(3)[2]) for i in range(3)]
    np.testing.assert_allclose(mixed, sum(a[i] * per[i] for i in range(3)), atol=1e-4)


def test_entangled_supernet_one_hot_equals_standalone_network():
    kw = dict(num_classes=5, channels=4, cells_per_stage=1)
    sup = NB201Supernet(**kw, edge_cls=EntangledEdge)
    x = jax.random.normal(jax.random.key(1), (3, 8, 8, 3))
    v = jax.jit(sup.init)(jax.random.key(0), x, jnp.full((6, 5), 0.2))
    for cell in (NB201Cell((3, 2, 1, 0, 2, 4)), NB201Cell((2, 2, 2, 2, 2, 2))):
        net = NB201Network(cell, **kw)
        nv = entangled_to_network_variables(v, cell)
        got = jax.jit(sup.apply)(v, x, cell_to_mask(cell))
        np.testing.assert_allclose(jax.jit(net.apply)(nv, x), got, atol=1e-5)


def test_entangled_edge_memory_is_the_largest_op():
    x = jnp.ones((1, 6, 6, 8))
    count = lambda m: sum(  # noqa: E731
        a.size for a in jax.tree.leaves(m.init(jax.random.key(0), x, jnp.full((5,), 0.2)))
    )
    largest_op = 3 * 3 * 8 * 8 + 2 * 8 * 2  # 3x3 kernel + BN (scale, bias, mean, var)
    assert count(EntangledEdge(8)) == largest_op
    assert count(MixedEdge(8)) == largest_op + 8 * 8 + 2 * 8 * 2  # DARTS keeps the 1x1 too


def test_entangle_bad_input():
    with pytest.raises(ValueError, match="odd"):
        kernel_size_masks(3, (2,))
    with pytest.raises(ValueError, match="kernel_weights"):
        entangled_kernel(jnp.ones((3, 3, 1, 1)), jnp.ones(3), (1, 3))
    with pytest.raises(ValueError, match="together"):
        entangled_kernel(jnp.ones((3, 3, 1, 1)), jnp.ones(2), (1, 3), channel_weights=jnp.ones(1))
    with pytest.raises(ValueError, match="square"):
        entangled_kernel(jnp.ones((3, 1, 1, 1)), jnp.ones(2), (1, 3))
