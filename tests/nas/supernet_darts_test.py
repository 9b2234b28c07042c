"""DARTS-family search: partitioned optimizers, unrolled gradient, GDAS, NA-DARTS, selection."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax.nas.spaces import NB201_OPS, NB201Cell
from efficient_jax.nas.supernet import (
    SearchSpec,
    arch_labels,
    darts_optimizer,
    gumbel_softmax,
    init_search_state,
    make_search_step,
    nb201_op_cost_table,
    neighbour_weights,
    perturb_weights,
    select_argmax,
    select_by_perturbation,
    tau_schedule,
)


@pytest.fixture(scope="module", autouse=True)
def _fast_compile_module():
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", False)


class Toy(nn.Module):
    """A tiny stand-in supernet: every (edge, op) scales its own linear map of the input."""

    @nn.compact
    def __call__(self, x, w, train=False):
        h = x.reshape(x.shape[0], -1)
        outs = [nn.Dense(3, name=f"op{o}")(h) for o in range(5)]
        z = sum(w[e, o] * outs[o] * (e + 1.0) for e in range(6) for o in range(5))
        return jnp.tanh(z) * 3.0


def _batches():
    k1, k2 = jax.random.split(jax.random.key(3))
    tb = {"image": jax.random.normal(k1, (8, 2, 2, 1)), "label": jnp.arange(8) % 3}
    vb = {"image": jax.random.normal(k2, (8, 2, 2, 1)), "label": (jnp.arange(8) + 1) % 3}
    return tb, vb


def _loss(net, alpha, batch):
    logits = Toy().apply({"params": net}, batch["image"], jax.nn.softmax(alpha, -1))
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()


def _state(opt):
    return init_search_state(Toy(), opt, jnp.zeros((2, 2, 2, 1)), key=jax.random.key(0))


def test_partitioned_optimizer_routes_val_grad_to_alpha_only():
    lr_w, lr_a = 0.1, 0.5
    opt = darts_optimizer(optax.sgd(lr_w), optax.sgd(lr_a))
    state = _state(opt)
    labels = arch_labels(state["params"])
    assert labels["alpha"] == "arch"
    assert set(jax.tree.leaves(labels["net"])) == {"weights"}
    tb, vb = _batches()
    new, metrics = jax.jit(make_search_step(Toy(), SearchSpec(method="darts"), opt))(
        state, tb, vb, jax.random.key(1)
    )
    net, alpha = state["params"]["net"], state["params"]["alpha"]
    g_alpha = jax.jit(jax.grad(_loss, argnums=1))(net, alpha, vb)  # validation loss -> α
    g_net = jax.jit(jax.grad(_loss))(net, alpha, tb)  # training loss -> weights
    np.testing.assert_allclose(new["params"]["alpha"], alpha - lr_a * g_alpha, atol=1e-6)
    for a, b in zip(
        jax.tree.leaves(new["params"]["net"]),
        jax.tree.leaves(jax.tree.map(lambda p, g: p - lr_w * g, net, g_net)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # and the validation gradient of the weights is NOT what was applied
    g_net_val = jax.jit(jax.grad(_loss))(net, alpha, vb)
    w_val = jax.tree.map(lambda p, g: p - lr_w * g, net, g_net_val)
    assert not np.allclose(jax.tree.leaves(new["params"]["net"])[1], jax.tree.leaves(w_val)[1])
    assert int(new["step"]) == 1 and np.isfinite(metrics["val_loss"])


def test_second_order_matches_exact_unrolled_gradient():
    xi = 0.05
    opt = darts_optimizer(optax.sgd(0.0), optax.sgd(1.0))
    state = _state(opt)
    state["params"]["alpha"] = jax.random.normal(jax.random.key(5), (6, 5))
    tb, vb = _batches()
    new, _ = jax.jit(make_search_step(Toy(), SearchSpec(method="darts2", xi=xi), opt))(
        state, tb, vb, jax.random.key(1)
    )
    g_fd = state["params"]["alpha"] - new["params"]["alpha"]
    net, alpha = state["params"]["net"], state["params"]["alpha"]

    def unrolled(a):
        g = jax.grad(_loss)(net, a, tb)
        return _loss(jax.tree.map(lambda p, q: p - xi * q, net, g), a, vb)

    g_exact = jax.jit(jax.grad(unrolled))(alpha)
    g_first = jax.jit(jax.grad(_loss, argnums=1))(net, alpha, vb)
    # the finite-difference Hessian-vector product recovers the second-order term
    np.testing.assert_allclose(g_fd, g_exact, atol=2e-3 * float(jnp.abs(g_exact).max()))
    assert float(jnp.abs(g_exact - g_first).max()) > 10 * float(jnp.abs(g_fd - g_exact).max())


def test_gdas_gumbel_is_one_hot_forward_with_gradient():
    logits = jax.random.normal(jax.random.key(0), (6, 5))
    h = gumbel_softmax(logits, key=jax.random.key(1), tau=1.0)
    assert set(np.unique(np.asarray(h)).tolist()) == {0.0, 1.0}
    np.testing.assert_allclose(h.sum(-1), 1.0)
    g = jax.grad(lambda a: jnp.sum(gumbel_softmax(a, key=jax.random.key(1)) * jnp.arange(5.0)))(
        logits
    )
    assert np.all(np.isfinite(g)) and float(jnp.abs(g).sum()) > 0
    assert float(tau_schedule(jnp.array(0), 10)) == 10.0
    np.testing.assert_allclose(float(tau_schedule(jnp.array(9), 10)), 0.1, rtol=1e-5)
    with pytest.raises(ValueError, match="tau"):
        gumbel_softmax(logits, key=jax.random.key(1), tau=0.0)


def test_nadarts_neighbours():
    w = jax.nn.softmax(jax.random.normal(jax.random.key(0), (6, 5)), -1)
    nb = neighbour_weights(w, key=jax.random.key(1), n_nbr=5, d=2, eps=0.1)
    assert nb.shape == (5, 6, 5)
    np.testing.assert_allclose(nb[0], w)  # α itself is always a member
    np.testing.assert_allclose(nb.sum(-1), 1.0, rtol=1e-5)
    assert np.all(nb >= 0)
    changed = np.abs(np.asarray(nb[1:]) - np.asarray(w)[None]).max(-1) > 1e-7
    assert np.all(changed.sum(-1) == 2)  # exactly d edges perturbed
    # multiplicative: perturbed rows are one-hot at none or skip and pass no gradient
    m = perturb_weights(w, key=jax.random.key(2), d=3, kind="multiplicative")
    rows = np.flatnonzero(np.abs(np.asarray(m) - np.asarray(w)).max(-1) > 1e-7)
    assert len(rows) == 3
    assert set(np.asarray(m)[rows].argmax(-1).tolist()) <= {
        NB201_OPS.index("none"),
        NB201_OPS.index("skip_connect"),
    }
    logits = jnp.log(w)
    g = jax.grad(
        lambda b: jnp.sum(
            perturb_weights(
                jax.nn.softmax(b, -1), key=jax.random.key(2), d=3, kind="multiplicative"
            )
            * jnp.arange(30.0).reshape(6, 5)
        )
    )(logits)
    np.testing.assert_allclose(np.asarray(g)[rows], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="perturbation"):
        perturb_weights(w, key=jax.random.key(0), d=1, kind="gaussian")
    with pytest.raises(ValueError, match="d must be"):
        perturb_weights(w, key=jax.random.key(0), d=7)


@pytest.mark.parametrize("method", ["gdas", "nadarts"])
def test_other_methods_step(method):
    opt = darts_optimizer(optax.sgd(0.1), optax.adam(0.01))
    tb, vb = _batches()
    spec = SearchSpec(method=method, num_steps=5, n_nbr=3, d=2)
    step = jax.jit(make_search_step(Toy(), spec, opt))
    state = _state(opt)
    for _ in range(3):
        state, m = step(state, tb, vb, jax.random.key(0))
    assert all(np.isfinite(float(v)) for v in m.values())
    assert not np.allclose(state["params"]["alpha"], _state(opt)["params"]["alpha"])


def test_cost_term_pushes_alpha_to_cheap_ops():
    table = nb201_op_cost_table(channels=4, cells_per_stage=1, image_size=8)
    assert table[3] == 9 * table[2] > 0 and table[0] == table[1] == table[4] == 0
    opt = darts_optimizer(optax.sgd(0.0), optax.sgd(1.0))
    tb, vb = _batches()
    spec = SearchSpec(method="darts", cost_table=tuple(table), cost_weight=100.0)
    state = _state(opt)
    new, _ = jax.jit(make_search_step(Toy(), spec, opt))(state, tb, vb, jax.random.key(0))
    delta = np.asarray(new["params"]["alpha"] - state["params"]["alpha"])
    assert np.all(delta[:, 3] < delta[:, 2]) and np.all(delta[:, 2] < delta[:, 1])


def test_selection_argmax_and_perturbation():
    target = NB201Cell((3, 2, 1, 4, 3, 0))
    onehot = jnp.eye(5)[jnp.array(target.ops)]

    def eval_fn(ws):  # the supernet "needs" the target op on each edge
        return jnp.sum(ws * onehot[None], axis=(1, 2)) + 0.01 * jnp.sum(ws[:, :, 1], axis=1)

    # α favours skip everywhere, but skip is not what the accuracy depends on
    probs = jax.nn.softmax(onehot + 3.0 * jnp.eye(5)[1][None], -1)
    assert select_argmax(jnp.log(probs)).ops == (1,) * 6
    cell, info = select_by_perturbation(eval_fn, probs, key=jax.random.key(0))
    assert cell == target
    assert sorted(info["order"]) == list(range(6))
    with pytest.raises(ValueError, match="shape"):
        select_by_perturbation(eval_fn, jnp.zeros((6, 4)))


def test_bad_search_specs():
    with pytest.raises(ValueError, match="Unknown search method"):
        SearchSpec(method="enas")
    with pytest.raises(ValueError, match="xi"):
        SearchSpec(method="darts2")
    with pytest.raises(ValueError, match="cost_table"):
        SearchSpec(cost_weight=1.0)
    with pytest.raises(ValueError, match="aggregate"):
        SearchSpec(method="nadarts", aggregate="median")


@pytest.mark.parametrize(
    "module", ["_darts", "_gdas", "_neighbours", "_selection", "_entangle"]
)  # _nb201 / __init__ examples build supernets eagerly (slow); their claims are unit-tested above
def test_docstring_examples(module):
    import doctest
    import importlib

    name = "efficient_jax.nas.supernet" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
