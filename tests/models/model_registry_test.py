"""Every registered model: init, forward with train=False/True, the uniform contract, bad inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import models

# (name, kwargs, input) with small shapes: compile time dominates on CPU.
_IMAGES = jnp.linspace(-1.0, 1.0, 2 * 8 * 8 * 3).reshape(2, 8, 8, 3)
_CASES = {
    "mlp": ({"features": (16,)}, _IMAGES),
    "lenet5": ({}, _IMAGES),
    "resnet20": ({}, _IMAGES),
    "resnet32": ({}, _IMAGES),
    "resnet44": ({}, _IMAGES),
    "resnet56": ({}, _IMAGES),
    "vgg_small": ({}, _IMAGES),
    "wrn16_4": ({"dropout_rate": 0.3}, _IMAGES),
    "tiny_bert": ({"vocab_size": 50, "num_classes": 3}, jnp.arange(16).reshape(2, 8) % 50),
}
_BN_MODELS = {"resnet20", "resnet32", "resnet44", "resnet56", "vgg_small", "wrn16_4"}


def test_cases_cover_registry():
    assert sorted(_CASES) == sorted(models.model_names())


@pytest.mark.parametrize("name", sorted(_CASES))
def test_forward_train_and_eval(name, key, fast_compile):
    kwargs, x = _CASES[name]
    model = models.get_model(name, **kwargs)
    num_classes = kwargs.get("num_classes", 10)
    variables = model.init(key, x)
    assert ("batch_stats" in variables) == (name in _BN_MODELS)

    logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
    assert logits.shape == (x.shape[0], num_classes)
    assert jnp.all(jnp.isfinite(logits))

    rngs = {"dropout": jax.random.key(1)}
    logits_t, updates = model.apply(variables, x, train=True, mutable=["batch_stats"], rngs=rngs)
    assert logits_t.shape == (x.shape[0], num_classes)
    if name in _BN_MODELS:
        old = jax.tree.leaves(variables["batch_stats"])
        new = jax.tree.leaves(updates["batch_stats"])
        assert len(old) == len(new)
        assert all(not np.allclose(a, b) for a, b in zip(old, new, strict=True))
    else:
        assert not updates


@pytest.mark.parametrize("shape", [(2, 8, 8, 1), (2, 32, 32, 3)])
def test_lenet5_digits_and_cifar(shape, key):
    model = models.LeNet5(num_classes=10)
    x = jnp.ones(shape)
    assert model.apply(model.init(key, x), x, train=False).shape == (2, 10)


def test_wrn_dropout_only_in_training(key):
    model = models.WideResNet(depth=10, widen_factor=1, dropout_rate=0.5)
    x = _IMAGES
    variables = model.init(key, x)
    eval1 = model.apply(variables, x)
    eval2 = model.apply(variables, x, train=False)
    np.testing.assert_array_equal(eval1, eval2)
    train = [
        model.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": k})[0]
        for k in jax.random.split(key, 2)
    ]
    assert not np.allclose(train[0], train[1])


def test_param_counts():
    def count(model, x):
        shapes = jax.eval_shape(model.init, jax.random.key(0), x)
        return sum(leaf.size for leaf in jax.tree.leaves(shapes["params"]))

    x = jnp.zeros((1, 32, 32, 3))
    assert count(models.resnet20(), x) == 269_722
    assert count(models.resnet56(), x) == 853_018
    assert count(models.wrn16_4(), x) == 2_748_890
    # ResNet-20 at width w: 1044 w² + 153 w + 10 parameters (269,722 at w = 16).
    assert count(models.resnet20(width=8), x) == 1044 * 8**2 + 153 * 8 + 10
    with pytest.raises(ValueError, match="width"):
        models.resnet20(width=0)


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ValueError, match="resnet20") as info:
        models.get_model("resnet18")
    assert "tiny_bert" in str(info.value)


def test_unknown_kwarg_lists_allowed():
    with pytest.raises(ValueError, match="allowed.*num_classes"):
        models.get_model("resnet20", depth=32)


@pytest.mark.parametrize("depth", [21, 4, 2, 20.0])
def test_bad_resnet_depth(depth):
    with pytest.raises(ValueError, match="6n \\+ 2"):
        models.ResNet(depth=depth)


def test_bad_wrn_depth():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        models.WideResNet(depth=18)
