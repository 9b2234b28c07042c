import jax.numpy as jnp
import pytest

from efficient_jax import cost, models, share


def test_full_adder_counts_by_hand():
    assert cost.full_adders(1) == 64
    assert cost.full_adders(9, 8, 8) == 9 * 64 + 8 * (8 + 8 + 4 - 1) == 728
    assert cost.full_adders(576) == 51_239
    assert cost.full_adders(4, weight_bits=4, act_bits=2) == 4 * 8 + 3 * (2 + 4 + 2 - 1)
    with pytest.raises(ValueError, match="positive int"):
        cost.full_adders(0)
    with pytest.raises(ValueError, match="weight_bits"):
        cost.full_adders(9, weight_bits=0)


def test_conv_layer_by_hand_and_sharing_only_changes_weight_cost():
    # 3x3 conv, 2 -> 4 channels, 5x5 output: D = 18, 100 dot products, 72 weights used 25 times.
    macs = 18 * 100
    e = cost.layer_energy(macs, (3, 3, 2, 4))
    assert (e.dot_length, e.dot_products, e.weights) == (18, 100, 72)
    assert e.computational == 100 * cost.full_adders(18)
    assert e.weight_repr == 25 * 72 * 8 and e.act_repr == 1800 * 8
    expected = (e.computational + 6 * 64 * (e.weight_repr + e.act_repr) / 16) / 64
    assert e.energy == pytest.approx(expected)
    shared = cost.layer_energy(macs, (3, 3, 2, 4), unique_weights=12)
    assert shared.weight_repr == 25 * 12 * 8
    assert (shared.act_repr, shared.computational) == (e.act_repr, e.computational)
    e16 = cost.layer_energy(macs, (3, 3, 2, 4), weight_bits=16, act_bits=16)
    assert (e16.weight_repr, e16.act_repr) == (2 * e.weight_repr, 2 * e.act_repr)
    with pytest.raises(ValueError, match="unique_weights"):
        cost.layer_energy(macs, (3, 3, 2, 4), unique_weights=73)


def test_model_energy_per_layer_and_with_codebooks(key, fast_compile):
    model = models.LeNet5(num_classes=10)
    x = jnp.ones((1, 8, 8, 1))
    variables = model.init(key, x)
    rep = cost.energy(model.apply, variables, x)
    assert not rep.skipped and set(rep.per_layer) >= {"conv1", "conv2"}
    total_macs = cost.macs(model.apply, variables, x).total
    assert sum(e.macs for e in rep.per_layer.values()) == total_macs
    assert rep.energy == pytest.approx(sum(e.energy for e in rep.per_layer.values()))
    tree = share.share_params(variables["params"], [("conv2/kernel", 4)], key=key)
    rep2 = cost.energy(model.apply, variables, x, unique_weights=share.unique_weights(tree))
    assert rep2.per_layer["conv2"].unique_weights == 4 * 5
    assert rep2.act_repr == rep.act_repr and rep2.weight_repr < rep.weight_repr
    assert "total" in rep2.table()
