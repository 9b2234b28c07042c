"""Exact identities of ensembles and cascades on cached logits (spec §4.5), and bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import cascade


def _pool(m=3, n=200, c=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    # Models of increasing quality: logits = signal * onehot(label) + noise.
    logits = np.stack(
        [2.0 * (k + 1) * np.eye(c)[labels] + 2.0 * rng.normal(size=(n, c)) for k in range(m)]
    ).astype(np.float32)
    flops = np.array([1.0, 4.0, 16.0, 64.0][:m], np.float32)
    return logits, labels, flops


def test_threshold_zero_reproduces_first_model():
    logits, labels, flops = _pool()
    m = cascade.cascade_metrics(logits, labels, [0.0, 0.0], flops)
    acc1 = np.mean(logits[0].argmax(-1) == labels)
    assert float(m["accuracy"]) == pytest.approx(acc1)
    assert float(m["avg_flops"]) == pytest.approx(flops[0])
    np.testing.assert_allclose(m["exit_fractions"], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("combine", cascade.COMBINES)
def test_never_exit_reproduces_full_ensemble(combine):
    logits, labels, flops = _pool()
    out = cascade.cascade(logits, [cascade.NEVER_EXIT] * 2, flops, combine=combine)
    ens = cascade.ensemble(list(logits), combine=combine)
    np.testing.assert_array_equal(out.prediction, np.asarray(ens).argmax(-1))
    np.testing.assert_allclose(out.flops, flops.sum())
    assert np.all(np.asarray(out.exit_stage) == 2)


def test_ensemble_means():
    a, b = jnp.array([[2.0, 0.0]]), jnp.array([[0.0, 4.0]])
    np.testing.assert_allclose(cascade.ensemble([a, b]), [[1.0, 2.0]])
    p = jax.nn.softmax(cascade.ensemble([a, b], combine="probs"))
    np.testing.assert_allclose(p, (jax.nn.softmax(a) + jax.nn.softmax(b)) / 2, rtol=1e-6)


def test_threshold_one_only_exits_on_saturated_softmax():
    logits = jnp.array([[[200.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    out = cascade.cascade(logits, [1.0], [1.0, 1.0])
    assert out.exit_stage.tolist() == [0, 1]  # float32 softmax of [200, 0] is exactly 1.0


@pytest.mark.parametrize("metric", cascade.METRICS)
def test_expected_flops_formula_and_exit_fractions(metric):
    logits, labels, flops = _pool(m=3)
    m = cascade.cascade_metrics(logits, labels, [0.8, 0.9], flops, metric=metric)
    assert float(jnp.sum(m["exit_fractions"])) == pytest.approx(1.0)
    expected = cascade.expected_flops(m["exit_fractions"], flops)
    assert float(m["avg_flops"]) == pytest.approx(float(expected), rel=1e-6)
    assert float(m["worst_flops"]) == pytest.approx(flops.sum())
    assert float(cascade.worst_case_flops(flops)) == pytest.approx(flops.sum())


def test_flops_monotone_in_each_threshold():
    logits, labels, flops = _pool(m=3)
    values = np.array([0.0, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0, np.inf], np.float32)
    grid = np.array(list(itertools.product(values, values)), np.float32).reshape(8, 8, 2)
    m = cascade.cascade_metrics(logits, labels, grid, flops)  # vmapped over a [8, 8] grid
    f = np.asarray(m["avg_flops"])
    assert f.shape == (8, 8)
    assert np.all(np.diff(f, axis=0) >= -1e-4) and np.all(np.diff(f, axis=1) >= -1e-4)
    np.testing.assert_allclose(m["worst_flops"], flops.sum())


def test_running_mean_is_over_all_models_so_far():
    logits = jnp.array([[[1.0, 0.0]], [[0.0, 3.0]], [[0.0, 6.0]]])
    means = cascade.running_means(logits)
    np.testing.assert_allclose(means[:, 0], [[1.0, 0.0], [0.5, 1.5], [1 / 3, 3.0]], rtol=1e-6)


def test_confidence_metrics_in_unit_interval():
    scores = jax.random.normal(jax.random.key(0), (50, 7)) * 5
    for metric in cascade.METRICS:
        c = np.asarray(cascade.confidence(scores, metric))
        assert np.all((c >= 0) & (c <= 1 + 1e-6)), metric
    uniform = jnp.zeros((1, 4))
    np.testing.assert_allclose(cascade.confidence(uniform, "neg_entropy"), [0.0], atol=1e-6)


def test_jit_and_vmap():
    logits, labels, flops = _pool()
    table = cascade.stage_table(logits, flops)
    fn = jax.jit(jax.vmap(lambda t: cascade.cascade_from_table(table, t).flops.mean()))
    out = fn(jnp.array([[0.0, 0.0], [np.inf, np.inf]]))
    np.testing.assert_allclose(out, [flops[0], flops.sum()])


def test_bad_input_errors():
    logits, labels, flops = _pool()
    with pytest.raises(ValueError, match="numbers of examples"):
        cascade.stack_logits([jnp.zeros((5, 3)), jnp.zeros((6, 3))])
    with pytest.raises(ValueError, match="numbers of classes"):
        cascade.stack_logits([jnp.zeros((5, 3)), jnp.zeros((5, 4))])
    with pytest.raises(ValueError, match="NaN"):
        cascade.stack_logits([jnp.full((5, 3), jnp.nan)])
    for bad in ([1.5, 0.2], [-0.1, 0.5], [0.5, np.nan]):
        with pytest.raises(ValueError, match=r"\[0, 1\].*inf"):
            cascade.cascade(logits, bad, flops)
    with pytest.raises(ValueError, match="2 threshold"):
        cascade.cascade(logits, [0.5], flops)
    with pytest.raises(ValueError, match="one entry per model"):
        cascade.cascade(logits, [0.5, 0.5], flops[:2])
    with pytest.raises(ValueError, match="labels"):
        cascade.cascade_metrics(logits, labels[:3], [0.5, 0.5], flops)
    with pytest.raises(ValueError, match="Unknown confidence metric"):
        cascade.confidence(logits[0], "margin")
    with pytest.raises(ValueError, match="Unknown combine"):
        cascade.ensemble(logits, combine="vote")
