"""score_cells: vmap over masks equals a Python loop and lax.map; NB201 masks go through."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
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


def _toy_setup():
    x = jax.random.normal(jax.random.key(0), (4, 12))
    batch = {"image": x, "label": jnp.arange(4) % 3}
    params = MaskedToy().init(jax.random.key(1), x, jnp.ones(2))["params"]

    def apply_fn(p, x, train, m):
        return MaskedToy().apply({"params": p}, x, m)

    return apply_fn, params, batch, np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]], np.float32)


def test_several_proxies_in_one_pass_equal_separate_runs():
    apply_fn, params, batch, masks = _toy_setup()
    both = proxies.score_cells(
        ["snip", "grad_norm"], apply_fn, params, batch, masks, chunk_size=2, progress=False
    )
    for name in ("snip", "grad_norm"):
        alone = proxies.score_cells(name, apply_fn, params, batch, masks, progress=False)
        np.testing.assert_allclose(both[name], alone, rtol=1e-6)


def test_resume_skips_done_masks_and_completes_the_scores():
    apply_fn, params, batch, masks = _toy_setup()
    full = proxies.score_cells("snip", apply_fn, params, batch, masks, progress=False)
    seen = []
    partial = np.full(5, np.nan)
    partial[:2] = full[:2]
    resumed = proxies.score_cells(
        "snip",
        apply_fn,
        params,
        batch,
        masks,
        chunk_size=2,
        progress=False,
        resume=(2, partial),
        on_chunk=lambda done, s: seen.append((done, int(np.isfinite(s).sum()))),
    )
    np.testing.assert_allclose(resumed, full, rtol=1e-6)
    assert seen == [(4, 4), (5, 5)]
    with pytest.raises(ValueError, match="resume"):
        proxies.score_cells("snip", apply_fn, params, batch, masks, resume=(6, full))


def test_synflow_activation_form_equals_parameter_form_with_biases():
    apply_fn, params, batch, masks = _toy_setup()
    # positive biases make y − b differ from y: the bias must be taken out of the kernel term
    params = jax.tree.map(lambda w: w + 0.1, params)
    for m in masks[:3]:
        f = functools.partial(apply_fn, m=m)
        a = proxies.synflow(f, params, batch)
        b = proxies.synflow(f, params, batch, form="parameters")
        np.testing.assert_allclose(a, b, rtol=1e-5)
    with pytest.raises(ValueError, match="form"):
        proxies.synflow(f, params, batch, form="weights")


def test_synflow_activation_form_equals_parameter_form_on_nb201(fast_compile):
    from efficient_jax.nas.spaces import NB201Cell
    from efficient_jax.nas.supernet import NB201Supernet, cells_to_masks

    net = NB201Supernet(channels=4, cells_per_stage=1)
    x = jnp.ones((1, 8, 8, 3))
    v = net.init(jax.random.key(1), x, jnp.full((6, 5), 0.2))
    apply_fn = proxies.supernet_apply_fn(net, v["batch_stats"])
    cells = [NB201Cell((3, 3, 1, 0, 2, 4)), NB201Cell((1, 1, 1, 1, 1, 1)), NB201Cell((0,) * 6)]
    masks = cells_to_masks(cells)
    with jax.enable_x64(True):
        act = proxies.score_cells(
            "synflow", apply_fn, v["params"], {"image": x}, masks, progress=False
        )
        par = [
            float(
                proxies.synflow(
                    functools.partial(apply_fn, mask=m),
                    v["params"],
                    {"image": x},
                    form="parameters",
                )
            )
            for m in masks
        ]
    np.testing.assert_allclose(act[:2], par[:2], rtol=1e-9)
    assert act[2] == par[2] == -np.inf  # all-`none` cell: the output ignores every weight


def test_grasp_activation_form_equals_parameter_form_with_biases():
    apply_fn, params, batch, masks = _toy_setup()
    params = jax.tree.map(lambda w: w + 0.1, params)  # non-zero biases, as above
    for m in masks[:3]:
        f = functools.partial(apply_fn, m=m)
        a = proxies.grasp(f, params, batch)
        b = proxies.grasp(f, params, batch, form="parameters")
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="form"):
        proxies.grasp(f, params, batch, form="weights")


def test_grasp_activation_form_equals_parameter_form_on_nb201(fast_compile):
    from efficient_jax.nas.spaces import NB201Cell
    from efficient_jax.nas.supernet import NB201Supernet, cells_to_masks

    net = NB201Supernet(channels=4, cells_per_stage=1)
    x = jax.random.normal(jax.random.key(2), (6, 8, 8, 3))
    batch = {"image": x, "label": jnp.arange(6) % 10}
    v = net.init(jax.random.key(1), x[:1], jnp.full((6, 5), 0.2))
    apply_fn = proxies.supernet_apply_fn(net, v["batch_stats"])
    masks = cells_to_masks([NB201Cell((3, 3, 1, 0, 2, 4)), NB201Cell((2, 1, 3, 4, 1, 3))])
    with jax.enable_x64(True):  # compare the two forms without float32 rounding
        p64 = jax.tree.map(lambda w: w.astype(jnp.float64), v["params"])
        b64 = {"image": x.astype(jnp.float64), "label": batch["label"]}
        for m in masks:
            f = functools.partial(apply_fn, mask=m)
            a = proxies.grasp(f, p64, b64)
            b = proxies.grasp(f, p64, b64, form="parameters")
            np.testing.assert_allclose(a, b, rtol=1e-7)


def test_params_fn_gives_each_mask_its_own_parameters():
    apply_fn, params, batch, masks = _toy_setup()
    key = jax.random.key(5)

    def fresh(p, i):
        return proxies.torch_default_init(p, jax.random.fold_in(key, i))

    got = proxies.score_cells(
        "snip", apply_fn, params, batch, masks, chunk_size=2, params_fn=fresh, progress=False
    )
    want = [
        float(proxies.snip(functools.partial(apply_fn, m=m), fresh(params, i), batch))
        for i, m in enumerate(masks)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    shared = proxies.score_cells("snip", apply_fn, params, batch, masks, progress=False)
    assert not np.allclose(got, shared)


def _xent(logits, labels):
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def test_batchnorm_scale_invariance_fixes_plain_and_grasp_terms_on_nb201(fast_compile):
    """Convs followed by training-mode BatchNorm: Σ W⊙∂L/∂W = 0 and Σ W⊙Hg = −‖g_W‖² (so plain
    and grasp are decided by the classifier and the shortcut convs, docs/RESULTS.md)."""
    from efficient_jax.core import map_with_path_str
    from efficient_jax.nas.spaces import NB201Cell
    from efficient_jax.nas.supernet import NB201Supernet, cells_to_masks

    net = NB201Supernet(10, 4, 1)
    x = jax.random.normal(jax.random.key(0), (8, 8, 8, 3))
    batch = {"image": x, "label": jnp.arange(8) % 10}
    v = net.init(jax.random.key(1), x[:1], jnp.full((6, 5), 0.2))
    params = proxies.torch_default_init(v["params"], jax.random.key(2))
    mask = cells_to_masks([NB201Cell((3, 2, 1, 3, 4, 3))])[0]
    f = functools.partial(proxies.supernet_apply_fn(net, v["batch_stats"]), mask=mask)

    def bn_fed(path):  # every conv but the reduction shortcuts; not the classifier
        return path.endswith("kernel") and "shortcut" not in path and "head" not in path

    def kernel_grads(p):
        gp = jax.grad(lambda q: _xent(f(q, x, True), batch["label"]))(p)
        return map_with_path_str(lambda path, d: d if path.endswith("kernel") else 0 * d, gp)

    g = kernel_grads(params)
    _, hg = jax.jvp(kernel_grads, (params,), (g,))
    plain_bn, grasp_bn, g_sq, snip_bn = [], [], [], []

    def visit(path, w, d, h):
        if bn_fed(path):
            plain_bn.append(float(jnp.sum(w * d)))
            snip_bn.append(float(jnp.sum(jnp.abs(w * d))))
            grasp_bn.append(float(jnp.sum(-w * h)))
            g_sq.append(float(jnp.sum(d * d)))
        return 0

    map_with_path_str(visit, params, g, hg)
    assert abs(sum(plain_bn)) < 1e-4 * sum(snip_bn)
    np.testing.assert_allclose(sum(grasp_bn), sum(g_sq), rtol=1e-3)
