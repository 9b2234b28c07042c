"""Distillation steps: digits MLP logits-KD, BatchNorm students, TinyBert hidden+attention."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import data, distill, parallel, train
from efficient_jax.models import MLP, TinyBert


@pytest.fixture(scope="module")
def digits():
    return data.load_digits()


def _accuracy(model, variables, split):
    logits = model.apply(variables, jnp.asarray(split["image"]), train=False)
    return float(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(split["label"])))


def test_logits_kd_from_trained_teacher_on_digits(digits, fast_compile):
    teacher = MLP(features=(64,), num_classes=10)
    tx_t = optax.adam(1e-2)
    t_state = train.create_train_state(
        teacher, tx_t, jnp.zeros((1, 8, 8, 1)), key=jax.random.key(1)
    )
    t_step = jax.jit(train.make_train_step(teacher, tx_t, seed=0))
    for i in range(100):
        t_state, _ = t_step(t_state, data.batch_at(digits["train"], i, 128, seed=0))
    teacher_vars = train.state_variables(t_state)
    assert _accuracy(teacher, teacher_vars, digits["test"]) > 0.9

    student = MLP(features=(16,), num_classes=10)
    tx = optax.adam(1e-2)
    state = train.create_train_state(student, tx, jnp.zeros((1, 8, 8, 1)), key=jax.random.key(2))
    untrained = _accuracy(student, train.state_variables(state), digits["test"])
    step = jax.jit(
        distill.make_distill_step(student, teacher, tx, seed=0, temperature=4.0, logits_loss="kl"),
        donate_argnums=0,
    )
    teacher_before = jax.tree.map(np.array, teacher_vars)
    losses = []
    for i in range(120):
        batch = data.batch_at(digits["train"], i, 128, seed=1)
        state, metrics = step(state, teacher_vars, {"image": batch["image"]})  # No labels.
        losses.append(float(metrics["loss"]))
    distilled = _accuracy(student, train.state_variables(state), digits["test"])
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5]), losses  # KL: the floor is 0.
    assert distilled > untrained + 0.4 and distilled > 0.8, (untrained, distilled)
    assert float(metrics["teacher_agreement"]) > 0.8
    assert set(state) == {"params", "batch_stats", "opt", "step"}  # The teacher is not in it.
    for a, b in zip(jax.tree.leaves(teacher_before), jax.tree.leaves(teacher_vars), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))


class _BNNet(nn.Module):
    width: int = 8

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(self.width)(x.reshape(x.shape[0], -1))
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.5)(x))
        return nn.Dense(3)(x)


def test_teacher_read_only_and_student_batch_stats_update(fast_compile):
    student, teacher = _BNNet(4), _BNNet(16)
    x = jax.random.normal(jax.random.key(0), (8, 5)) + 2.0
    batch = {"image": x, "label": jnp.arange(8) % 3}
    teacher_vars = teacher.init(jax.random.key(1), x)
    tx = optax.sgd(0.1)
    state = train.create_train_state(student, tx, x, key=jax.random.key(2))
    step = distill.make_distill_step(student, teacher, tx, seed=0, alpha=0.5, temperature=2.0)
    new_state, metrics = jax.jit(step)(state, teacher_vars, batch)
    assert sorted(metrics) == ["accuracy", "ce", "grad_norm", "kd", "loss", "teacher_agreement"]
    assert int(new_state["step"]) == 1
    mean_before = state["batch_stats"]["BatchNorm_0"]["mean"]
    mean_after = new_state["batch_stats"]["BatchNorm_0"]["mean"]
    assert float(jnp.abs(mean_after - mean_before).max()) > 0.1  # Moved toward the batch mean.
    # The teacher gets no gradient through the step (stop_gradient, inference mode).
    grads = jax.jit(jax.grad(lambda tv: step(state, tv, batch)[1]["loss"]))(teacher_vars)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads))
    # Data-parallel: batch split over the 8 fake devices, teacher and student replicated.
    mesh = parallel.make_mesh()
    sharded_state, sharded_metrics = jax.jit(step)(
        parallel.replicate(state, mesh),
        parallel.replicate(teacher_vars, mesh),
        parallel.shard_batch(batch, mesh),
    )
    np.testing.assert_allclose(float(sharded_metrics["loss"]), float(metrics["loss"]), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(sharded_state), jax.tree.leaves(new_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    # A train state works as teacher_variables too.
    t_state = train.create_train_state(teacher, tx, x, key=jax.random.key(1))
    _, m2 = jax.jit(step)(state, t_state, batch)
    np.testing.assert_allclose(float(m2["loss"]), float(metrics["loss"]), rtol=1e-6)


def _bert_batch(n=8, length=8):
    ids = jax.random.randint(jax.random.key(3), (n, length), 1, 100)
    mask = jnp.arange(length)[None, :] < jnp.array([[8], [6], [8], [5], [8], [7], [8], [4]])
    return {"input_ids": ids, "attention_mask": mask.astype(jnp.int32), "label": jnp.arange(n) % 2}


@pytest.fixture(scope="module")
def berts():
    teacher = TinyBert(
        vocab_size=100, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64
    )
    student = TinyBert(
        vocab_size=100, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32
    )
    batch = _bert_batch()
    jax.config.update("jax_disable_most_optimizations", True)  # Compile time dominates.
    try:
        teacher_vars = jax.jit(teacher.init)(jax.random.key(0), batch["input_ids"])
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    return teacher, student, teacher_vars, batch


def test_attention_scores_tap_matches_model_probabilities(berts, fast_compile):
    model, _, variables, batch = berts
    args, kwargs = train.model_inputs(batch)

    @jax.jit
    def run(variables):
        out, _ = distill.model_outputs(model, variables, args, kwargs, train=False, features=True)
        return out, model.apply(variables, *args, return_aux=True, **kwargs)[1]

    out, aux = run(variables)
    mask = batch["attention_mask"].astype(bool)[:, None, None, :]
    for scores, probs in zip(out["attentions"], aux["attentions"], strict=True):
        rebuilt = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
        np.testing.assert_allclose(np.asarray(rebuilt), np.asarray(probs), atol=1e-6)
    assert len(out["hidden_states"]) == 3


def test_tinybert_two_stage_distillation(berts, fast_compile):
    teacher, student, teacher_vars, batch = berts
    tx = optax.adam(3e-3)
    projections = distill.init_projections(jax.random.key(1), [16, 16], [32, 32])
    state = distill.create_distill_state(
        student, tx, batch["input_ids"], key=jax.random.key(2), projections=projections
    )
    step = jax.jit(
        distill.make_distill_step(
            student,
            teacher,
            tx,
            seed=0,
            hidden_layer_map=distill.uniform_layer_map(1, 2),
            attention_layer_map=distill.uniform_layer_map(1, 2, kind="attention"),
            **distill.two_stage_config(1),
        )
    )
    losses = []
    for _ in range(15):
        state, metrics = step(state, teacher_vars, batch)
        losses.append(float(metrics["loss"]))
    assert {"hidden", "attention"} <= set(metrics) and "kd" not in metrics
    assert losses[-1] < 0.7 * losses[0], losses
    moved = jax.tree.map(
        lambda a, b: float(jnp.abs(a - b).max()), state["projections"], projections
    )
    assert min(jax.tree.leaves(moved)) > 0  # The regressors are trained too.

    # Stage 2 (prediction-layer distillation) continues from the stage-1 state.
    step2 = jax.jit(
        distill.make_distill_step(student, teacher, tx, seed=0, **distill.two_stage_config(2))
    )
    state, metrics = step2(state, teacher_vars, batch)
    assert "kd" in metrics and "hidden" not in metrics and np.isfinite(float(metrics["loss"]))


def test_callable_loss_with_attention_probs(berts, fast_compile):
    teacher, _, teacher_vars, batch = berts
    tx = optax.sgd(0.1)
    params = jax.tree.map(lambda p: p + 0.01, teacher_vars["params"])  # Skips an init compile.
    state = {"params": params, "batch_stats": {}, "opt": tx.init(params), "step": jnp.int32(0)}

    def custom(s_out, t_out, batch):
        mask = batch["attention_mask"]
        att = distill.attention_mse(s_out["attentions"], t_out["attentions"], mask=mask)
        emb = distill.hidden_mse(s_out["hidden_states"][:1], t_out["hidden_states"][:1])
        return att + emb, {"att": att, "emb": emb}

    step = jax.jit(
        distill.make_distill_step(teacher, teacher, tx, seed=0, loss=custom, attention="probs")
    )
    _, metrics = step(state, teacher_vars, batch)
    assert {"att", "emb", "loss", "teacher_agreement"} <= set(metrics)
    assert float(metrics["att"]) > 0 and np.isfinite(float(metrics["loss"]))


def test_step_construction_errors():
    mlp, bert = MLP(features=(4,), num_classes=2), TinyBert(vocab_size=10, hidden_size=8)
    tx = optax.sgd(0.1)
    with pytest.raises(ValueError, match="return logits only"):
        distill.make_distill_step(mlp, mlp, tx, seed=0, loss="hidden")
    with pytest.raises(ValueError, match=r"logits\+features"):
        distill.make_distill_step(bert, bert, tx, seed=0, loss="logits+features")
    with pytest.raises(ValueError, match="temperature"):
        distill.make_distill_step(mlp, mlp, tx, seed=0, temperature=0)
    with pytest.raises(ValueError, match="attention"):
        distill.make_distill_step(bert, bert, tx, seed=0, attention="values")
    with pytest.raises(ValueError, match="stage"):
        distill.two_stage_config(4)
