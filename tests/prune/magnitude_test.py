import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import cost, models, prune


def test_global_threshold_hits_target_sparsity():
    rng = np.random.default_rng(0)
    params = {
        "a": {"kernel": jnp.asarray(rng.normal(size=(20, 10))), "bias": jnp.ones(10)},
        "b": {"kernel": jnp.asarray(10 * rng.normal(size=(10, 3)))},
    }
    masks = prune.global_magnitude_masks(params, 0.8)
    kept = sum(int(m.sum()) for m in jax.tree.leaves(masks))
    assert kept == 230 - int(0.8 * 230)
    assert masks["a"]["bias"] is None
    # Global, not per-layer: the larger-magnitude layer keeps a larger fraction.
    assert float(masks["b"]["kernel"].mean()) > float(masks["a"]["kernel"].mean())
    pruned = prune.apply_masks(params, masks)
    np.testing.assert_array_equal(pruned["a"]["bias"], params["a"]["bias"])
    assert prune.sparse_bytes(params, masks) == 4 * kept + 25 + 4 + 40


def test_effective_macs_scale_with_density(key):
    model = models.get_model("lenet5", num_classes=10)
    x = jnp.zeros((1, 8, 8, 1))
    variables = model.init(key, x)
    report = cost.macs(model.apply, variables, x)
    assert prune.effective_macs(report, variables["params"]) == report.total
    half = jax.tree.map(lambda p: p.at[..., ::2].set(0.0), variables["params"])
    assert prune.effective_macs(report, half) == pytest.approx(report.total / 2, rel=0.02)


@pytest.mark.parametrize("s", [-0.1, 1.0])
def test_bad_sparsity(s):
    with pytest.raises(ValueError, match="sparsity must be in"):
        prune.global_magnitude_masks({"k": {"kernel": jnp.ones(3)}}, s)
