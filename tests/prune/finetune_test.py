import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import data, models, prune


def test_keep_masked_zeroes_updates_even_with_momentum():
    params = {"w": jnp.array([1.0, 2.0, 3.0]), "b": jnp.array(0.5)}
    masks = {"w": jnp.array([True, False, True]), "b": None}
    tx = prune.keep_masked(optax.adam(0.1), masks)
    state = tx.init(params)
    for _ in range(3):
        updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
        params = optax.apply_updates(params, updates)
    assert float(params["w"][1]) == 2.0
    assert float(params["w"][0]) < 1.0 and float(params["b"]) < 0.5


def test_masked_finetune_recovers_accuracy_and_keeps_zeros(key):
    splits = data.load_digits()
    model = models.get_model("mlp", features=(32,), num_classes=10)
    train = splits["train"]
    variables = model.init(key, train["image"][:1])
    variables = {
        "params": prune.masked_finetune(
            model.apply,
            variables,
            jax.tree.map(lambda _: None, variables["params"]),
            train,
            steps=150,
            learning_rate=3e-3,
        )
    }
    masks = prune.global_magnitude_masks(variables["params"], 0.9)
    pruned = prune.apply_masks(variables["params"], masks)
    tuned = prune.masked_finetune(model.apply, variables, masks, train, steps=100)

    def acc(params):
        logits = model.apply({"params": params}, splits["test"]["image"])
        return float(jnp.mean(jnp.argmax(logits, -1) == splits["test"]["label"]))

    assert acc(tuned) > acc(pruned) + 0.05
    kernels = [(masks[k]["kernel"], tuned[k]["kernel"]) for k in tuned]
    for m, p in kernels:
        assert np.all(np.asarray(p)[~np.asarray(m)] == 0)


def test_masked_finetune_bad_input(key):
    with pytest.raises(ValueError, match="labelled batch"):
        prune.masked_finetune(lambda *a, **k: None, {"params": {}}, {}, {"image": jnp.ones(2)})
    with pytest.raises(ValueError, match="must be positive"):
        prune.masked_finetune(lambda *a, **k: None, {"params": {}}, {}, {"label": 1}, steps=0)
