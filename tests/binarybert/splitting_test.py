"""Adaptive splitting on a model: split costs, packed bytes and sensitivities."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from efficient_jax import binarybert, qat
from efficient_jax.models import get_model


@pytest.fixture(scope="module")
def ternary():
    model = get_model("mlp", features=(16,), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (8, 6))
    variables = model.init(jax.random.key(1), x)
    qat_params, tern = qat.prepare(model, variables, qat.preset_rules("twn_a8"), [x])
    return model, variables, x, qat_params, tern


def test_split_costs_are_the_extra_packed_bytes(ternary):
    *_, qat_params, tern = ternary
    costs = binarybert.split_costs(qat_params, tern)
    assert list(costs) == binarybert.ternary_layers(tern) == ["Dense_0", "head"]
    base = binarybert.split_model_bytes(*binarybert.tws_split_model(qat_params, tern, select=[]))
    full = binarybert.split_model_bytes(*binarybert.tws_split_model(qat_params, tern))
    assert full - base == sum(costs.values())
    assert binarybert.split_costs(qat_params, tern, ["head"]) == {"head": costs["head"]}


def test_split_sensitivities_keep_one_group_in_float(ternary):
    model, variables, x, qat_params, tern = ternary
    target = model.apply(variables, x)
    loss = lambda forward, v: float(jnp.mean((forward(v, x) - target) ** 2))
    sens, gains = binarybert.split_sensitivities(qat_params, tern, loss)
    assert set(sens) == set(gains) == {"Dense_0", "head"}
    # Keeping everything binary but "head" in float: the gain is the loss drop.
    bin_vars, bin_model = binarybert.tws_split_model(qat_params, tern, select=[])
    want = loss(bin_model, bin_vars) - _loss_with_float(loss, bin_model, bin_vars, "head")
    assert gains["head"] == pytest.approx(want)
    assert sens["head"] == pytest.approx(gains["head"] / (16 * 3))


def _loss_with_float(loss, model, variables, name):
    layers = {
        p: dataclasses.replace(s, rule=dataclasses.replace(s.rule, weight=None))
        if s.name == name
        else s
        for p, s in model.layers.items()
    }
    return loss(dataclasses.replace(model, layers=layers), variables)
