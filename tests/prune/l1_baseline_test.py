"""The data-free L1-norm pruning baseline (prune.l1_norm_baseline)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import models, prune


@pytest.fixture(scope="module")
def lenet():
    model = models.get_model("lenet5", num_classes=10)
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
    return model, model.init(jax.random.key(0), x), x


def test_channel_baseline_removes_the_smallest_l1_filters(lenet):
    model, v, x = lenet
    pruned, masks = prune.l1_norm_baseline(model, v, x, [("^conv2$", 0.5)], "channel")
    keep = np.asarray(prune.channel_keep(masks["conv2"]["kernel"]))
    norms = np.abs(np.asarray(v["params"]["conv1"]["kernel"])).sum(axis=(0, 1, 2))
    assert keep.sum() == len(keep) // 2
    assert norms[keep].min() >= norms[~keep].max()  # the producer's largest-L1 filters stay
    w = np.asarray(pruned["params"]["conv2"]["kernel"])
    assert np.all(w[:, :, ~keep, :] == 0) and np.any(w[:, :, keep, :] != 0)
    assert masks["conv1"]["kernel"] is None and masks["fc1"]["kernel"] is None


def test_unstructured_baseline_keeps_the_largest_weights(lenet):
    model, v, x = lenet
    pruned, masks = prune.l1_norm_baseline(model, v, x, [("^fc1$", 0.75)], "unstructured")
    w = np.abs(np.asarray(v["params"]["fc1"]["kernel"]))
    m = np.asarray(masks["fc1"]["kernel"])
    assert m.mean() == pytest.approx(0.25, abs=1e-3)
    assert w[m].min() >= w[~m].max()
    assert jnp.array_equal(pruned["params"]["conv1"]["kernel"], v["params"]["conv1"]["kernel"])


def test_bad_input(lenet):
    model, v, x = lenet
    with pytest.raises(ValueError, match="structure must be one of"):
        prune.l1_norm_baseline(model, v, x, [("^conv2$", 0.5)], "block")
    with pytest.raises(ValueError, match="matches no Conv/Dense layer"):
        prune.l1_norm_baseline(model, v, x, [("^conv9$", 0.5)])
