"""``train.finetune``: the compressors' full-batch fine-tune loop, bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import train
from efficient_jax.models import MLP


@pytest.fixture(scope="module")
def setup():
    model = MLP(features=(8,), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (16, 5))
    batch = {"image": x, "label": jnp.arange(16) % 3}
    variables = model.init(jax.random.key(1), x)
    return model, variables, batch


def _reference(apply_fn, variables, batch, tx, steps, loss, names, opt_state=None):
    """The loop the compressors used to write out (the qat compressor's form)."""
    fixed = {k: v for k, v in variables.items() if k not in names}
    x = batch["image"]

    def loss_fn(t):
        return loss(apply_fn({**fixed, **t}, x, train=False), batch)

    @jax.jit
    def run(t, opt):
        def body(_, carry):
            t, opt = carry
            updates, opt = tx.update(jax.grad(loss_fn)(t), opt, t)
            return optax.apply_updates(t, updates), opt

        return jax.lax.fori_loop(0, steps, body, (t, tx.init(t) if opt is None else opt))[0]

    return run({k: variables[k] for k in names}, opt_state)


def test_default_loss_matches_the_written_out_loop(setup):
    model, variables, batch = setup
    tx = optax.adam(1e-2)
    out = train.finetune(model.apply, variables, batch, tx=tx, steps=7)
    ce = lambda logits, b: optax.softmax_cross_entropy_with_integer_labels(
        logits, b["label"]
    ).mean()
    want = _reference(model.apply, variables, batch, tx, 7, ce, ("params",))
    jax.tree.map(np.testing.assert_array_equal, out, want)


def test_teacher_loss_collections_and_initial_state(setup):
    model, variables, batch = setup
    teacher = model.apply(variables, batch["image"]) * 2.0
    loss = lambda logits, _: jnp.mean((logits - teacher) ** 2)
    tx = optax.sgd(1e-2, momentum=0.9)
    out = train.finetune(
        model.apply, variables, batch, tx=tx, steps=3, loss_fn=loss, trainable=("params",)
    )
    want = _reference(model.apply, variables, batch, tx, 3, loss, ("params",))
    jax.tree.map(np.testing.assert_array_equal, out, want)
    # An explicit initial state (built outside the loop) gives the same result here.
    start = tx.init(variables["params"])
    again = train.finetune(model.apply, variables, batch, tx=tx, steps=3, loss_fn=loss,
                           opt_state=start)  # fmt: skip
    jax.tree.map(np.testing.assert_allclose, again["params"], out["params"])


def test_bad_input(setup):
    model, variables, batch = setup
    tx = optax.adam(1e-3)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        train.finetune(model.apply, variables, batch, tx=tx, steps=0)
    with pytest.raises(ValueError, match="not in variables"):
        train.finetune(model.apply, variables, batch, tx=tx, steps=1, trainable=("quant",))
    with pytest.raises(ValueError, match="needs batch\\['label'\\]"):
        train.finetune(model.apply, variables, {"image": batch["image"]}, tx=tx, steps=1)
