"""Layer-wise few-shot pruning: masks binary and respected, exact sparsity, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax import prune
from efficient_jax.models import LeNet5, ResNet

pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def tiny_resnet():
    model = ResNet(depth=8, num_classes=10)
    x = jax.random.normal(jax.random.key(1), (10, 8, 8, 3))
    return model, model.init(jax.random.key(0), x), x


def test_train_layer_masks_binary_and_sparse(key):
    k1, k2 = jax.random.split(key)
    f = lambda p, h: h @ p["kernel"] + p["bias"]  # noqa: E731
    w = {"kernel": jax.random.normal(k1, (12, 6)), "bias": jnp.ones(6)}
    h = jax.random.normal(k2, (20, 12))
    for structure, sparsity in (("unstructured", 0.75), ("channel", 0.5)):
        cfg = prune.LayerwiseConfig(method="cd", structure=structure, steps=9)
        student, mask, aux = prune.train_layer(f, w, h, h * 0.8, sparsity, cfg)
        assert mask.dtype == jnp.bool_ and mask.shape == (12, 6)
        assert float(1 - mask.mean()) == pytest.approx(sparsity)
        assert jnp.all(jnp.where(mask, 0.0, student["kernel"]) == 0.0)
        assert aux["loss"].shape == (9,)
        if structure == "channel":  # Whole input channels (rows of a Dense kernel) go.
            assert jnp.all(mask.all(axis=1) | ~mask.any(axis=1))


def test_keep_masked_updates_respect_masks(key):
    params = {"w": jax.random.normal(key, (4, 4))}
    masks = {"w": prune.topk_mask(params["w"], 0.5)}
    tx = prune.keep_masked(optax.adam(0.1), masks)
    state = tx.init(params)
    assert state.masks is masks
    p = prune.apply_masks(params, masks)
    for _ in range(3):
        updates, state = tx.update({"w": jnp.ones((4, 4))}, state, p)
        p = optax.apply_updates(p, updates)
    assert jnp.all(jnp.where(masks["w"], 0.0, p["w"]) == 0.0)
    assert prune.masks_are_binary(masks)


def test_few_shot_prune_resnet_channel(tiny_resnet):
    model, variables, x = tiny_resnet
    cfg = prune.LayerwiseConfig(method="scd", structure="channel", steps=4)
    student, masks, aux = prune.few_shot_prune(model, variables, x, [(r"conv2$", 0.5)], cfg)
    assert set(aux) == {"layer1_0/conv2", "layer2_0/conv2", "layer3_0/conv2"}
    assert prune.masks_are_binary(masks)
    k = student["params"]["layer1_0"]["conv2"]["kernel"]
    assert int(prune.channel_keep(k != 0).sum()) == 8
    # Unselected layers are untouched.
    np.testing.assert_array_equal(
        student["params"]["layer1_0"]["conv1"]["kernel"],
        variables["params"]["layer1_0"]["conv1"]["kernel"],
    )
    assert masks["layer1_0"]["conv1"]["kernel"] is None


def test_layerwise_and_l1_norm_masks(tiny_resnet):
    _, variables, _ = tiny_resnet
    masks = prune.layerwise_magnitude_masks(variables["params"], 0.9)
    for m in jax.tree.leaves(masks):
        assert float(1 - m.mean()) == pytest.approx(0.9, abs=1 / m.size)
    l1 = prune.l1_norm_channel_masks(variables["params"], {"layer1_0/conv2": "layer1_0/conv1"}, 0.5)
    keep = prune.channel_keep(l1["layer1_0"]["conv2"]["kernel"])
    filt = jnp.abs(variables["params"]["layer1_0"]["conv1"]["kernel"]).sum(axis=(0, 1, 2))
    assert float(filt[keep].min()) >= float(filt[~keep].max())


def test_bad_input(tiny_resnet):
    model, variables, x = tiny_resnet
    cfg = prune.LayerwiseConfig(steps=2)
    for bad in (1.0, -0.5, 2):
        with pytest.raises(ValueError, match=r"in \[0, 1\)"):
            prune.few_shot_prune(model, variables, x, [(r"conv2$", bad)], cfg)
    with pytest.raises(ValueError, match="matches no Conv/Dense layer"):
        prune.few_shot_prune(model, variables, x, [(r"conv2$", 0.5), (r"^block9", 0.5)], cfg)
    with pytest.raises(ValueError, match=r"K=6 examples per class.*only 5"):
        prune.few_shot_indices(np.repeat(np.arange(3), 5), 6)
    with pytest.raises(ValueError, match="positive integer"):
        prune.few_shot_indices(np.arange(3), 0)
    idx = prune.few_shot_indices(np.repeat(np.arange(3), 5), 2, seed=1)
    assert np.bincount(np.repeat(np.arange(3), 5)[idx]).tolist() == [2, 2, 2]


def test_export_equals_masked_and_shrinks(tiny_resnet):
    model, variables, x = tiny_resnet
    cfg = prune.LayerwiseConfig(method="cd", structure="channel", steps=3)
    student, masks, _ = prune.few_shot_prune(model, variables, x, [(r"conv2$", 0.5)], cfg)
    groups = prune.channel_groups(model, variables, x, ["layer1_0/conv2", "layer3_0/conv2"])
    assert groups[0] == prune.ChannelGroup("layer1_0/conv2", "layer1_0/conv1", ("layer1_0/bn1",))
    slim, kept = prune.export_channel_pruned(student, masks, groups)
    assert kept == {"layer1_0/conv2": 8, "layer3_0/conv2": 32}
    assert slim["params"]["layer1_0"]["conv1"]["kernel"].shape == (3, 3, 16, 8)
    assert slim["batch_stats"]["layer3_0"]["bn1"]["mean"].shape == (32,)
    np.testing.assert_allclose(prune.slim_apply(model)(slim, x), model.apply(student, x), atol=1e-5)
    assert prune.verify_export(model, student, slim, x) < 1e-4
    size = lambda v: sum(a.size for a in jax.tree.leaves(v["params"]))  # noqa: E731
    assert size(slim) < size(student)


def test_export_dense_chain_and_errors(key):
    model = LeNet5()
    x = jax.random.normal(key, (4, 8, 8, 1))
    variables = model.init(jax.random.key(0), x)
    groups = prune.channel_groups(model, variables, x, ["conv2", "fc2"])
    masks = prune.l1_norm_channel_masks(
        variables["params"], {g.consumer: g.producer for g in groups}, 0.5
    )
    masked = {"params": prune.apply_masks(variables["params"], masks)}
    slim, kept = prune.export_channel_pruned(masked, masks, groups)
    assert kept == {"conv2": 3, "fc2": 60}
    np.testing.assert_allclose(prune.slim_apply(model)(slim, x), model.apply(masked, x), atol=1e-5)
    with pytest.raises(ValueError, match="not the .* outputs of the preceding layer"):
        prune.channel_groups(model, variables, x, ["fc1"])  # A flatten sits in between.
    with pytest.raises(ValueError, match="Unknown consumer"):
        prune.channel_groups(model, variables, x, ["conv9"])
    wrong = {"params": prune.apply_masks(variables["params"], masks)}
    wrong["params"]["fc3"] = dict(wrong["params"]["fc3"], bias=wrong["params"]["fc3"]["bias"] + 1)
    with pytest.raises(ValueError, match="differs from the masked model"):
        prune.verify_export(model, masked, wrong, x)
