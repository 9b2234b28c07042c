"""APS: Φ closed form vs Monte Carlo, extremes of Thm 6.3.1, annealing, FLOPs, child extraction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import cost
from efficient_jax.nas import channels as aps


def _semi_orthogonal(key, c, w):
    q, _ = jnp.linalg.qr(jax.random.normal(key, (c, w)))
    return q


def test_phi_closed_form_matches_monte_carlo():
    ks = jax.random.split(jax.random.key(0), 5)
    qi, po = _semi_orthogonal(ks[0], 5, 2), _semi_orthogonal(ks[1], 4, 3)
    qj, pp = _semi_orthogonal(ks[2], 5, 3), _semi_orthogonal(ks[3], 4, 2)
    exact = float(aps.pair_sharing(qi, po, qj, pp))
    mc = float(aps.monte_carlo_sharing(qi, po, qj, pp, key=ks[4], num_samples=200_000))
    assert 0 < exact < 2 * 3  # strictly between independent (0) and ordinal (min·min)
    # Plug-in bias ≈ d1·d2/n = 6·6/2e5 ≈ 2e-4, sampling error a few 1e-3.
    assert abs(mc - exact) < 0.03 * exact + 1e-3


def test_ordinal_is_max_independent_is_zero():
    widths = (2, 3, 5)
    o = aps.init_transforms("ordinal", 10, widths)
    i = aps.init_transforms("independent", 10, widths)
    m = aps.column_mask(widths)
    for a in range(3):
        for b in range(3):
            go = aps.pair_sharing(
                o[a][:, : widths[a]],
                o[a][:, : widths[a]],
                o[b][:, : widths[b]],
                o[b][:, : widths[b]],
            )
            assert float(go) == min(widths[a], widths[b]) ** 2
            gi = aps.gram_norms(i)[a, b]
            assert float(gi) == (widths[a] if a == b else 0.0)
    # Random unit-column transforms lie in between.
    r = aps.normalize_columns(jax.random.normal(jax.random.key(0), o.shape), m)
    one = jnp.eye(1)[None]
    lo, mid, hi = (float(aps.sharing_level(one, t)) for t in (i, r, o))
    assert lo < hi and lo < mid < hi + 1e-6
    with pytest.raises(ValueError, match="at least 10 rows"):
        aps.init_transforms("independent", 9, widths)
    with pytest.raises(ValueError, match="Unknown APS strategy"):
        aps.init_transforms("shared", 10, widths)


def test_annealing_decreases_phi_monotonically_for_small_lr():
    widths = (2, 4, 6)
    m = aps.column_mask(widths)
    t = aps.init_transforms("ordinal", 12, widths)
    t = aps.normalize_columns(
        t + 0.01 * jax.random.normal(jax.random.key(0), t.shape) * m[:, None], m
    )
    one = jnp.eye(1)[None]
    phis = [float(aps.sharing_level(one, t))]
    for _ in range(30):
        t = aps.anneal_step(t, m, 1e-3)
        phis.append(float(aps.sharing_level(one, t)))
    assert all(b <= a + 1e-4 for a, b in zip(phis, phis[1:]))
    assert phis[-1] < phis[0]
    np.testing.assert_allclose(jnp.linalg.norm(t, axis=1), m, atol=1e-5)


def test_macs_formula_matches_traced_count_and_targets():
    widths = (4, 8, 12, 8, 16, 32, 16, 48, 64)
    model = aps.ChannelResNet(widths)
    x = jnp.zeros((1, 32, 32, 3))
    v = jax.eval_shape(model.init, jax.random.key(0), x)
    v = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), v)
    assert cost.macs(lambda v, x: model.apply(v, x), v, x).total == aps.resnet_macs(widths)
    space = aps.make_space((0.25, 0.5, 0.75, 1.0))
    lo, hi = space.macs_range()
    space.check_target(lo)
    with pytest.raises(ValueError, match="below the smallest architecture"):
        space.check_target(lo - 1)
    with pytest.raises(ValueError, match="below the smallest"):
        space.check_target(0)


def test_reward_and_pick_architecture():
    assert float(aps.mnasnet_reward(0.8, 5.0, 10.0)) == pytest.approx(0.8)
    assert float(aps.mnasnet_reward(0.8, 20.0, 10.0)) == pytest.approx(0.8 * 2**-0.1)
    space = aps.make_space((0.5, 1.0))
    small, big = [0] * 9, [1] * 9
    target = (space.macs(small) + space.macs(big)) / 2
    assert aps.pick_architecture([(big, -1.0), (small, -2.0)], space, target)[0] == tuple(small)


def test_constrained_beam_search_stays_within_the_budget():
    space = aps.make_space((0.25, 0.5, 0.75, 1.0))
    ctrl = aps.Controller(space.num_blocks, space.num_choices, 8)
    params = ctrl.init(jax.random.key(0), jnp.zeros((space.num_blocks,), jnp.int32))
    lo, hi = space.macs_range()
    target = lo + 0.3 * (hi - lo)
    free = aps.beam_search(ctrl, params, 4)
    beams = aps.beam_search(ctrl, params, 4, feasible=aps.within_budget(space, target))
    assert len(beams) == 4 and all(space.macs(seq) <= target for seq, _ in beams)
    # the constraint only removes sequences: the best feasible one is no more likely than the best
    assert beams[0][1] <= free[0][1] + 1e-6
    with pytest.raises(ValueError, match="feasibility"):
        aps.beam_search(ctrl, params, 4, feasible=aps.within_budget(space, lo - 1))


def test_extracted_child_computes_the_supernet_candidate(fast_compile):
    space = aps.make_space((0.5, 1.0), depth=8)
    key = jax.random.key(0)
    tr = aps.init_aps_transforms(space, "transition", key=key, noise=0.05)
    model = space.model()
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    choices = jnp.array([0, 1, 0], jnp.int32)
    params = model.init(key, x, choices, tr)["params"]
    child, variables = aps.extract_child(params, tr, choices, space)
    assert child.widths == (8, 32, 32)

    @jax.jit
    def both(params, variables):
        a = model.apply({"params": params}, x, choices, tr)
        b, _ = child.apply(variables, x, train=True, mutable=["batch_stats"])
        return a, b

    a, b = both(params, variables)
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4)
