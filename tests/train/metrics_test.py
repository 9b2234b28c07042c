"""Task metrics (scikit-learn / SciPy), the input-blind baseline, and the regression steps."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import train
from efficient_jax.models import MLP


def test_classification_metrics_on_toy_arrays():
    labels = np.array([1, 1, 1, 0, 0, 1])
    preds = np.array([1, 0, 1, 0, 1, 1])
    m = train.compute_metrics(("matthews_corrcoef", "f1", "accuracy"), labels, preds)
    assert list(m) == ["matthews_corrcoef", "f1", "accuracy"]
    # tp=3 fp=1 fn=1 tn=1: F1 = 6/8, MCC = (3*1 - 1*1) / sqrt(4*4*2*2).
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["f1"] == pytest.approx(0.75)
    assert m["matthews_corrcoef"] == pytest.approx(2 / 8)
    assert train.compute_metrics(["matthews_corrcoef"], labels, labels)["matthews_corrcoef"] == 1.0
    # Nothing predicted positive: F1 is 0 (no warning-driven NaN), MCC 0.
    zero = train.compute_metrics(["f1", "matthews_corrcoef"], labels, np.zeros(6, int))
    assert zero == {"f1": 0.0, "matthews_corrcoef": 0.0}


def test_regression_metrics_on_toy_arrays():
    y = np.array([0.0, 1.0, 2.0, 3.0, 5.0])
    m = train.compute_metrics(train.REGRESSION_METRICS, y, 2 * y + 1)
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["mse"] == pytest.approx(np.mean((y + 1) ** 2))
    # Monotone but not linear: Spearman 1, Pearson below 1.
    m = train.compute_metrics(["pearson", "spearman"], y, np.exp(y))
    assert m["spearman"] == pytest.approx(1.0) and m["pearson"] < 0.95
    assert train.compute_metrics(["spearman"], y, -y)["spearman"] == pytest.approx(-1.0)
    # A constant prediction has no correlation: NaN, not a crash or a warning turned into 0.
    assert np.isnan(train.compute_metrics(["pearson"], y, np.full(5, 2.0))["pearson"])


def test_metric_errors():
    with pytest.raises(ValueError, match="Unknown metric.*'auc'.*valid: \\['accuracy'"):
        train.compute_metrics(["auc"], np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="shapes"):
        train.compute_metrics(["accuracy"], np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="task_type"):
        train.trivial_baseline(["mse"], train_labels=[1.0], eval_labels=[1.0], task_type="rank")


def test_trivial_baseline():
    # Majority class of the *train* labels (1), scored on the eval labels.
    train_labels, eval_labels = np.array([1, 1, 0, 1, 0]), np.array([0, 0, 1, 0])
    b = train.trivial_baseline(
        ("matthews_corrcoef", "accuracy"), train_labels=train_labels, eval_labels=eval_labels
    )
    assert b == {"majority_matthews_corrcoef": 0.0, "majority_accuracy": 0.25}
    b = train.trivial_baseline(("f1",), train_labels=train_labels, eval_labels=eval_labels)
    assert b == {"majority_f1": pytest.approx(2 * 1 / (1 + 4))}  # all-positive: precision 1/4
    assert train.trivial_baseline(
        ["pearson"], train_labels=np.array([0, 0, 2, 2]), eval_labels=np.zeros(3)
    ) == {"majority_accuracy": 1.0}  # no classification metric asked: accuracy
    # Regression: always the train mean (2.0); only the MSE is defined.
    b = train.trivial_baseline(
        train.REGRESSION_METRICS,
        train_labels=np.array([1.0, 3.0]),
        eval_labels=np.array([0.0, 4.0]),
        task_type="regression",
    )
    assert b == {"train_mean_mse": 4.0}


def test_squared_error_needs_one_output():
    out = train.squared_error(jnp.array([[1.0], [2.0]]), jnp.array([0.0, 4.0]))
    np.testing.assert_allclose(out, [1.0, 4.0])
    with pytest.raises(ValueError, match="1-output head.*num_classes to 1"):
        train.squared_error(jnp.zeros((2, 2)), jnp.zeros(2))


def test_regression_train_and_eval_steps_fit_a_linear_target():
    x = jax.random.normal(jax.random.key(0), (64, 4))
    y = x @ jnp.array([1.0, -2.0, 0.5, 0.0]) + 3.0
    batch = {"image": x, "label": y}
    model = MLP(features=(16,), num_classes=1)
    tx = optax.adam(3e-2)
    state = train.create_train_state(model, tx, x[:1], key=jax.random.key(1))
    step = jax.jit(train.make_train_step(model, tx, seed=0, task_type="regression"))
    eval_step = jax.jit(train.make_eval_step(model, task_type="regression"))
    before = train.evaluate(eval_step, train.state_variables(state), [batch])
    for _ in range(200):
        state, metrics = step(state, batch)
    assert set(metrics) == {"loss", "grad_norm"}  # no accuracy for a regression
    after = train.evaluate(eval_step, train.state_variables(state), [batch])
    assert set(after) == {"loss"} and after["loss"] < 0.05 * before["loss"]
    preds = model.apply(train.state_variables(state), x, train=False)[:, 0]
    assert train.compute_metrics(["pearson"], np.asarray(y), np.asarray(preds))["pearson"] > 0.99
    with pytest.raises(ValueError, match="task_type must be one of"):
        train.make_train_step(model, tx, seed=0, task_type="ranking")
    # A 2-output head on a regression task fails when traced, naming the fix.
    two = MLP(features=(16,), num_classes=2)
    s2 = train.create_train_state(two, tx, x[:1], key=jax.random.key(1))
    with pytest.raises(ValueError, match="1-output head"):
        train.make_train_step(two, tx, seed=0, task_type="regression")(s2, batch)


def test_classification_steps_unchanged_by_task_type_default():
    x = jax.random.normal(jax.random.key(0), (8, 4))
    batch = {"image": x, "label": jnp.arange(8) % 3}
    model = MLP(features=(8,), num_classes=3)
    tx = optax.sgd(0.1)
    state = train.create_train_state(model, tx, x[:1], key=jax.random.key(1))
    default = jax.jit(train.make_train_step(model, tx, seed=0))
    explicit = jax.jit(
        train.make_train_step(
            model, tx, seed=0, loss_fn=train.softmax_cross_entropy, task_type="classification"
        )
    )
    (s1, m1), (s2, m2) = default(state, batch), explicit(state, batch)
    assert set(m1) == {"loss", "accuracy", "grad_norm"}
    jax.tree.map(np.testing.assert_array_equal, (s1, m1), (s2, m2))
    sums = jax.jit(train.make_eval_step(model))(train.state_variables(state), batch)
    assert set(sums) == {"correct", "loss", "count"}
