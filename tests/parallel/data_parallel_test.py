import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax.parallel import (
    data_parallel_step,
    make_mesh,
    maybe_initialize_distributed,
    param_shardings,
    replicate,
    shard_batch,
    shard_params,
)


class _MLP(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        x = nn.relu(nn.Dense(16)(x))
        return nn.Dense(3)(x)


def _setup(key):
    model = _MLP()
    rng = np.random.default_rng(0)
    batch = {
        "x": rng.normal(size=(32, 5)).astype(np.float32),
        "y": rng.integers(0, 3, size=(32,)).astype(np.int32),
    }
    params = model.init(key, batch["x"])["params"]
    tx = optax.sgd(0.5)

    def step(state, batch):
        def loss_fn(params):
            logits = model.apply({"params": params}, batch["x"], train=True)
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt = tx.update(grads, state["opt"], state["params"])
        new_state = {"params": optax.apply_updates(state["params"], updates), "opt": opt}
        return new_state, {"loss": loss}

    return {"params": params, "opt": tx.init(params)}, batch, step


def test_data_parallel_matches_single_device(key):
    state, batch, step = _setup(key)
    mesh1 = make_mesh(devices=jax.devices()[:1])
    mesh8 = make_mesh()
    assert mesh8.shape["data"] == 8

    ref_state, ref_metrics = data_parallel_step(step, mesh1, donate_state=False)(
        replicate(state, mesh1), shard_batch(batch, mesh1)
    )
    dp_step = data_parallel_step(step, mesh8, donate_state=False)
    new_state, metrics = dp_step(replicate(state, mesh8), shard_batch(batch, mesh8))

    np.testing.assert_allclose(metrics["loss"], ref_metrics["loss"], rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
        new_state["params"],
        ref_state["params"],
    )
    # Params moved: the step did something.
    assert not np.allclose(
        new_state["params"]["Dense_0"]["kernel"], state["params"]["Dense_0"]["kernel"]
    )
    for leaf in jax.tree.leaves(new_state) + jax.tree.leaves(metrics):
        assert leaf.sharding.is_fully_replicated
        assert leaf.sharding.device_set == set(jax.devices())


def test_data_parallel_step_places_inputs_and_donates(key):
    state, batch, step = _setup(key)
    mesh = make_mesh()
    dp_step = data_parallel_step(step, mesh)
    placed = replicate(state, mesh)
    # Committed to one device and host NumPy: both are moved onto the mesh.
    out, _ = dp_step(jax.device_put(state, jax.devices()[1]), batch)
    out, _ = dp_step(placed, shard_batch(batch, mesh))
    assert placed["params"]["Dense_0"]["kernel"].is_deleted()
    # The gradient all-reduce is inserted by the compiler, not written in the step.
    hlo = dp_step.jitted.lower(out, shard_batch(batch, mesh)).compile().as_text()
    assert "all-reduce" in hlo


def test_data_parallel_step_rejects_unknown_axis():
    with pytest.raises(ValueError, match="not an axis"):
        data_parallel_step(lambda s, b: (s, {}), make_mesh(), axis="batch")


def test_shard_params_splits_kernel_over_2x4_mesh():
    mesh = make_mesh((2, 4), ("data", "model"))
    params = {
        "encoder": {"kernel": jnp.arange(6 * 8.0).reshape(6, 8), "bias": jnp.zeros(8)},
        "head": {"kernel": jnp.ones((8, 3))},
    }
    rules = [(r"encoder/kernel", jax.P("data", "model")), (r"head", None)]
    placed = shard_params(params, mesh, rules)
    kernel = placed["encoder"]["kernel"]
    assert kernel.sharding.spec == jax.P("data", "model")
    assert {s.data.shape for s in kernel.addressable_shards} == {(3, 2)}
    np.testing.assert_array_equal(kernel, params["encoder"]["kernel"])
    assert placed["encoder"]["bias"].sharding.is_fully_replicated
    assert placed["head"]["kernel"].sharding.is_fully_replicated
    shapes = jax.eval_shape(lambda: params)
    assert param_shardings(shapes, mesh, rules)["encoder"]["kernel"] == kernel.sharding


def test_shard_params_rejects_non_divisible_dim():
    mesh = make_mesh((2, 4), ("data", "model"))
    params = {"dense": {"kernel": jnp.ones((4, 6))}}
    with pytest.raises(ValueError, match=r"dense/kernel.*\(4, 6\).*size 4"):
        shard_params(params, mesh, [(r"kernel", jax.P(None, "model"))])
    with pytest.raises(ValueError, match="mesh axis 'tensor'"):
        shard_params(params, mesh, [(r"kernel", jax.P("tensor"))])
    with pytest.raises(ValueError, match="3 entries"):
        shard_params(params, mesh, [(r"kernel", jax.P(None, None, "data"))])


def test_maybe_initialize_distributed_is_false_in_plain_env(monkeypatch):
    for var in (
        "EFFICIENT_JAX_DISTRIBUTED",
        "JAX_COORDINATOR_ADDRESS",
        "SLURM_NTASKS",
        "TPU_WORKER_HOSTNAMES",
    ):
        monkeypatch.delenv(var, raising=False)
    assert maybe_initialize_distributed() is False
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("EFFICIENT_JAX_DISTRIBUTED", "0")
    assert maybe_initialize_distributed() is False
