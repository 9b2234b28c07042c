"""Distillation losses: reference formulas, gradients, layer maps, validation, doctests."""

import doctest
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import distill


def _np_soft_ce(s, t, tau):
    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    p_t = np.exp(log_softmax(t / tau))
    return float(np.mean(-(p_t * log_softmax(s / tau)).sum(-1)))


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 5)).astype(np.float32), 3 * rng.normal(size=(6, 5)).astype(
        np.float32
    )


@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_soft_cross_entropy_matches_numpy_and_scales_by_t2(logits, tau):
    s, t = logits
    expected = _np_soft_ce(s, t, tau)
    plain = distill.soft_cross_entropy(s, t, tau, scale_by_t2=False)
    scaled = distill.soft_cross_entropy(s, t, tau)
    np.testing.assert_allclose(float(plain), expected, rtol=1e-5)
    np.testing.assert_allclose(float(scaled), tau**2 * expected, rtol=1e-5)
    # KL = soft CE − teacher entropy.
    entropy = _np_soft_ce(t, t, tau)
    kl = distill.kl_divergence(s, t, tau, scale_by_t2=False)
    np.testing.assert_allclose(float(kl), expected - entropy, rtol=1e-4, atol=1e-6)


def test_minimized_with_zero_gradient_at_teacher_logits(logits):
    _, t = logits
    for fn in (distill.kl_divergence, distill.soft_cross_entropy):
        g = jax.grad(lambda s, fn=fn: fn(s, t, 2.0))(jnp.asarray(t))
        np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-6)
    assert float(distill.kl_divergence(t, t, 2.0)) == pytest.approx(0.0, abs=1e-6)
    shifted = jnp.asarray(t) + 0.3 * jnp.arange(5.0)
    assert float(distill.kl_divergence(shifted, t, 2.0)) > 1e-3


def test_teacher_gets_no_gradient(logits):
    s, t = logits
    g = jax.grad(lambda t: distill.soft_cross_entropy(s, t, 2.0))(jnp.asarray(t))
    np.testing.assert_array_equal(np.asarray(g), 0.0)


def test_jittable_with_traced_temperature(logits):
    s, t = logits
    out = jax.jit(distill.soft_cross_entropy)(s, t, jnp.float32(2.0))
    np.testing.assert_allclose(float(out), 4 * _np_soft_ce(s, t, 2.0), rtol=1e-5)


def test_hidden_mse_layer_map_and_projection():
    rng = np.random.default_rng(1)
    teacher = [rng.normal(size=(2, 3, 8)).astype(np.float32) for _ in range(5)]
    student = [rng.normal(size=(2, 3, 4)).astype(np.float32) for _ in range(3)]
    layer_map = distill.uniform_layer_map(2, 4)
    assert layer_map == (0, 2, 4)
    projections = distill.init_projections(jax.random.key(0), [4] * 3, [8] * 3)
    got = distill.hidden_mse(student, teacher, layer_map=layer_map, projections=projections)
    expected = sum(
        np.mean((student[i] @ np.asarray(p["kernel"]) + np.asarray(p["bias"]) - teacher[j]) ** 2)
        for i, (j, p) in enumerate(zip(layer_map, projections))
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # MREM's module loss: the same MSE over a slice of layers.
    same = distill.hidden_mse(teacher[1:3], teacher[1:3])
    assert float(same) == 0.0


def test_attention_mse_layer_map_mask_and_scores():
    rng = np.random.default_rng(2)
    teacher = [rng.normal(size=(2, 2, 4, 4)).astype(np.float32) for _ in range(4)]
    student = [rng.normal(size=(2, 2, 4, 4)).astype(np.float32) for _ in range(2)]
    layer_map = distill.uniform_layer_map(2, 4, kind="attention")
    assert layer_map == (1, 3)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], np.float32)
    got = distill.attention_mse(student, teacher, layer_map=layer_map, mask=mask)
    pair = mask[:, None, :, None] * mask[:, None, None, :] * np.ones((1, 2, 1, 1))
    expected = sum(
        ((student[i] - teacher[j]) ** 2 * pair).sum() / pair.sum() for i, j in enumerate(layer_map)
    )
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    # Scores carrying the additive padding mask: entries <= -100 count as zero in both maps.
    masked_t = np.where(pair > 0, teacher[1], -1e4).astype(np.float32)
    masked_s = np.where(pair > 0, student[0], -1e4).astype(np.float32)
    got = distill.attention_mse([masked_s], [masked_t], kind="scores")
    np.testing.assert_allclose(
        float(got), np.mean((student[0] - teacher[1]) ** 2 * pair), rtol=1e-5
    )


def test_fitnet_gradient_flows_to_regressor():
    rng = np.random.default_rng(3)
    f_s = jnp.asarray(rng.normal(size=(4, 3, 3, 2)), jnp.float32)  # NHWC student feature.
    f_t = jnp.asarray(rng.normal(size=(4, 3, 3, 5)), jnp.float32)
    r = distill.init_regressor(jax.random.key(0), 2, 5)
    loss, grads = jax.value_and_grad(distill.fitnet_hint_loss, argnums=2)(f_s, f_t, r)
    pred = np.asarray(f_s) @ np.asarray(r["kernel"]) + np.asarray(r["bias"])
    expected = np.mean(0.5 * ((np.asarray(f_t) - pred) ** 2).reshape(4, -1).sum(-1))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert float(jnp.abs(grads["kernel"]).sum()) > 0 and float(jnp.abs(grads["bias"]).sum()) > 0
    # A few gradient steps on the regressor alone reduce the hint loss.
    grad_fn = jax.jit(jax.grad(distill.fitnet_hint_loss, argnums=2))
    for _ in range(20):
        r = jax.tree.map(lambda p, g: p - 0.05 * g, r, grad_fn(f_s, f_t, r))
    assert float(distill.fitnet_hint_loss(f_s, f_t, r)) < float(loss)


def test_distillation_loss_composite():
    rng = np.random.default_rng(4)
    s = {
        "logits": rng.normal(size=(2, 3)).astype(np.float32),
        "hidden_states": [rng.normal(size=(2, 4, 8)).astype(np.float32)],
        "attentions": [rng.normal(size=(2, 1, 4, 4)).astype(np.float32)],
    }
    t = jax.tree.map(lambda x: x + 1.0, s)
    labels = np.array([0, 2])
    loss, aux = distill.distillation_loss(
        s, t, labels, alpha=0.25, temperature=2.0, hidden_weight=0.5, attention_weight=3.0
    )
    assert sorted(aux) == ["attention", "ce", "hidden", "kd", "loss"]
    ce = -np.mean(jax.nn.log_softmax(s["logits"])[np.arange(2), labels])
    np.testing.assert_allclose(float(aux["ce"]), ce, rtol=1e-5)
    expected = 0.25 * aux["kd"] + 0.75 * aux["ce"] + 0.5 * aux["hidden"] + 3.0 * aux["attention"]
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)
    np.testing.assert_allclose(float(aux["hidden"]), 1.0, rtol=1e-6)
    # Stage 1 of TernaryBERT: features only, no labels needed.
    loss, aux = distill.distillation_loss(
        s, t, logits_weight=0.0, hidden_weight=1.0, attention_weight=1.0
    )
    assert sorted(aux) == ["attention", "hidden", "loss"]
    assert float(loss) == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: distill.soft_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 4))), r"\(2, 3\)"),
        (lambda: distill.kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 3)), 0.0), "temperature"),
        (lambda: distill.soft_cross_entropy(jnp.zeros(3), jnp.zeros(3), -1.0), "-1.0"),
        (lambda: distill.hidden_mse([jnp.zeros((1, 4))], [jnp.zeros((1, 5))]), r"\(1, 5\)"),
        (lambda: distill.hidden_mse([jnp.zeros(1)] * 2, [jnp.zeros(1)] * 3), "layer_map"),
        (lambda: distill.hidden_mse([jnp.zeros(1)], [jnp.zeros(1)], layer_map=(3,)), r"\(3,\)"),
        (
            lambda: distill.attention_mse([jnp.zeros((1, 2, 3, 3))], [jnp.zeros((1, 1, 3, 3))]),
            r"\(1, 1, 3, 3\)",
        ),
        (
            lambda: distill.attention_mse(
                [jnp.zeros((1, 1, 3, 3))], [jnp.zeros((1, 1, 3, 3))], mask=jnp.ones((1, 4))
            ),
            r"\(1, 4\)",
        ),
        (lambda: distill.attention_mse([jnp.zeros((1, 1, 3, 3))] * 1, [], kind="x"), "kind"),
        (
            lambda: distill.fitnet_hint_loss(
                jnp.zeros((2, 3)),
                jnp.zeros((2, 4)),
                distill.init_regressor(jax.random.key(0), 2, 4),
            ),
            r"\(2, 3\)",
        ),
        (
            lambda: distill.distillation_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), alpha=0.5),
            "labels",
        ),
        (lambda: distill.distillation_loss(jnp.zeros((2, 3)), jnp.zeros((2, 3)), alpha=2), "alpha"),
        (
            lambda: distill.distillation_loss(
                jnp.zeros((2, 3)), jnp.zeros((2, 3)), hidden_weight=1
            ),
            "hidden_states",
        ),
        (lambda: distill.uniform_layer_map(3, 2), "teacher layers"),
    ],
)
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("module", ["_kd", "_features", "_composite", "_step", "__init__"])
def test_docstring_examples(module):
    name = "efficient_jax.distill" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
