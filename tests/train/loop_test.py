"""Training loop: resume equality, SIGTERM save-and-exit, NaN stop keeping the last checkpoint."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import train
from efficient_jax.models import MLP


def _setup(num_steps):
    model = MLP(features=(16,), num_classes=3)
    tx = optax.adam(optax.cosine_decay_schedule(1e-2, num_steps))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(64, 5)).astype(np.float32)
    ys = rng.integers(0, 3, size=64).astype(np.int32)

    def batch_fn(step):
        idx = np.random.default_rng([0, step]).choice(64, 8, replace=False)
        return {"image": jnp.asarray(xs[idx]), "label": jnp.asarray(ys[idx])}

    state = train.create_train_state(model, tx, jnp.zeros((1, 5)), key=jax.random.key(0))
    step = jax.jit(train.make_train_step(model, tx, seed=0), donate_argnums=0)
    return state, step, batch_fn


def test_resume_after_sigterm_gives_identical_params(tmp_path):
    state, step, batch_fn = _setup(20)
    straight = train.fit(step, state, batch_fn, num_steps=20, log_every=5, progress=False)

    ckpt = train.Checkpointer(tmp_path / "ckpt")

    def killing_batch_fn(i):
        if i == 10:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch_fn(i)

    state, step, _ = _setup(20)
    template = jax.tree.map(jnp.copy, state)
    with pytest.raises(SystemExit) as exc:
        train.fit(step, state, killing_batch_fn, num_steps=20, checkpointer=ckpt, log_every=5)
    assert exc.value.code == train.PREEMPTED_EXIT_CODE
    assert ckpt.latest_step() == 11  # The step in flight when SIGTERM arrived is kept.
    ckpt.close()

    ckpt = train.Checkpointer(tmp_path / "ckpt")
    restored, at = ckpt.maybe_restore(template)
    assert at == 11 and int(restored["step"]) == 11
    resumed = train.fit(step, restored, batch_fn, num_steps=20, checkpointer=ckpt, log_every=5)
    ckpt.close()
    for a, b in zip(jax.tree.leaves(straight["params"]), jax.tree.leaves(resumed["params"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    state, step, batch_fn = _setup(20)

    def poisoned(i):
        batch = batch_fn(i)
        if i >= 12:
            batch = {**batch, "image": batch["image"] * jnp.nan}
        return batch

    ckpt = train.Checkpointer(tmp_path / "ckpt", max_to_keep=5)
    with pytest.raises(train.NonFiniteLossError, match="last good checkpoint \\(step 10\\)"):
        train.fit(
            step, state, poisoned, num_steps=20, checkpointer=ckpt, log_every=5, checkpoint_every=5
        )
    ckpt.wait()
    assert ckpt.latest_step() == 10
    ckpt.close()


def test_writer_outputs(tmp_path):
    state, step, batch_fn = _setup(6)
    writer = train.MetricWriter(tmp_path)
    train.fit(step, state, batch_fn, num_steps=6, writer=writer, log_every=3)
    rows = train.read_metrics(tmp_path)
    assert [r["step"] for r in rows] == [3, 6]
    assert {"loss", "accuracy", "grad_norm"} <= set(rows[0])
    writer.write_results({"acc": np.float32(0.5)})
    assert (tmp_path / "results.json").read_text().strip().startswith("{")


@pytest.mark.parametrize("kw", [{"num_steps": 0}, {"num_steps": 5, "log_every": 0}])
def test_fit_rejects_bad_intervals(kw):
    state, step, batch_fn = _setup(5)
    with pytest.raises(ValueError, match="must be a positive integer"):
        train.fit(step, state, batch_fn, **kw)
