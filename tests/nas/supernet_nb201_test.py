"""NB201 supernet: mask equivalence with the standalone network, vmap over masks, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.nas.spaces import NB201Cell
from efficient_jax.nas.supernet import (
    MixedEdge,
    NB201Network,
    NB201Supernet,
    cell_to_mask,
    cells_to_masks,
    is_one_hot,
    mask_to_cell,
    subnet_variables,
)

KW = dict(num_classes=5, channels=4, cells_per_stage=1)
CELLS = [
    NB201Cell((3, 3, 1, 0, 2, 4)),
    NB201Cell((1,) * 6),
    NB201Cell((0,) * 6),
    NB201Cell((2, 4, 3, 1, 0, 3)),
]


@pytest.fixture(scope="module", autouse=True)
def _fast_compile_module():
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


@pytest.fixture(scope="module")
def setup():
    x = jax.random.normal(jax.random.key(1), (3, 8, 8, 3))
    net = NB201Supernet(**KW)
    v = jax.jit(net.init)(jax.random.key(0), x, jnp.full((6, 5), 0.2))
    # Non-trivial BN running statistics, so eval mode is a real check too.
    _, upd = jax.jit(
        lambda v, x: net.apply(v, x, jnp.full((6, 5), 0.2), train=True, mutable=["batch_stats"])
    )(v, x * 2 + 1)
    return net, {"params": v["params"], "batch_stats": upd["batch_stats"]}, x


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: "".join(map(str, c.ops)))
def test_one_hot_supernet_equals_standalone(setup, cell):
    net, v, x = setup
    sub = NB201Network(cell, **KW)
    mask = cell_to_mask(cell)
    np.testing.assert_allclose(sub.apply(v, x), net.apply(v, x, mask), atol=1e-5)
    # train mode (batch statistics) and the exact sub-tree of variables
    sv = subnet_variables(v, cell, **KW, input_shape=x.shape)
    a, ua = sub.apply(sv, x, train=True, mutable=["batch_stats"])
    b, ub = net.apply(v, x, mask, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(a, b, atol=1e-5)
    # the standalone network's tree is exactly the sub-tree (same paths and shapes)
    ref = jax.eval_shape(sub.init, jax.random.key(0), x)
    assert jax.tree.structure(ref) == jax.tree.structure(sv)
    assert all(jax.tree.leaves(jax.tree.map(lambda r, s: r.shape == s.shape, ref, sv)))
    # running stats of the used ops move identically
    ub_sub = subnet_variables({"batch_stats": ub["batch_stats"]}, cell, **KW, input_shape=x.shape)
    for a_leaf, b_leaf in zip(jax.tree.leaves(ua), jax.tree.leaves(ub_sub), strict=True):
        np.testing.assert_allclose(a_leaf, b_leaf, atol=1e-5)


def test_vmap_over_masks_equals_loop_and_compiles_once(setup):
    net, v, x = setup
    traces = []

    @jax.jit
    def f(mask):
        traces.append(1)
        return net.apply(v, x, mask)

    masks = cells_to_masks(CELLS)
    looped = jnp.stack([f(m) for m in masks])
    assert len(traces) == 1  # every architecture through one compiled function
    vm = jax.vmap(lambda m: net.apply(v, x, m))(masks)
    np.testing.assert_allclose(vm, looped, atol=1e-5)


def test_mixed_edge_is_the_weighted_sum_of_its_ops():
    edge = MixedEdge(4)
    x = jax.random.normal(jax.random.key(2), (2, 6, 6, 4))
    v = edge.init(jax.random.key(0), x, jnp.full((5,), 0.2))
    w = jnp.array([0.1, 0.2, 0.3, 0.15, 0.25])
    per_op = [edge.apply(v, x, jnp.eye(5)[o]) for o in range(5)]
    np.testing.assert_allclose(
        edge.apply(v, x, w), sum(w[o] * per_op[o] for o in range(5)), atol=1e-5
    )
    np.testing.assert_allclose(per_op[0], 0.0)
    np.testing.assert_allclose(per_op[1], x)


def test_mask_cell_round_trip():
    for c in CELLS:
        m = cell_to_mask(c)
        assert m.shape == (6, 5) and is_one_hot(m)
        assert mask_to_cell(m) == c
    alpha = jax.random.normal(jax.random.key(0), (6, 5))
    assert mask_to_cell(alpha, require_one_hot=False).ops == tuple(
        int(i) for i in np.argmax(alpha, 1)
    )


@pytest.mark.parametrize(
    "bad",
    [np.full((6, 5), 0.2), np.eye(5)[[0, 1, 2, 3, 4, 0]] * 2.0, np.zeros((6, 5))],
    ids=["soft", "scaled", "empty"],
)
def test_non_one_hot_mask_rejected(bad):
    assert not is_one_hot(bad)
    with pytest.raises(ValueError, match="one-hot"):
        mask_to_cell(bad)


def test_bad_shapes_and_ops_rejected(setup):
    net, v, x = setup
    with pytest.raises(ValueError, match="shape"):
        mask_to_cell(np.zeros((5, 5)))
    with pytest.raises(ValueError, match=r"arch_weights must have shape \(6, 5\)"):
        net.apply(v, x, jnp.zeros((6, 4)))
    with pytest.raises(ValueError, match="Unknown NB201 op"):
        NB201Cell.from_str("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="NB201Cell"):
        cell_to_mask((1, 2, 3, 4, 0, 1))
    with pytest.raises(ValueError, match="non-finite"):
        mask_to_cell(np.full((6, 5), np.nan), require_one_hot=False)
