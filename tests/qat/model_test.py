"""Model-level fake quantization: rule resolution, calibration, QAT forward, jit/grad/sharding."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from efficient_jax.models import get_model
from efficient_jax.qat import QuantRule, calibrate, prepare, quantize_model

W4A4_LSQ = [QuantRule(path_regex="kernel$", weight="lsq", weight_bits=4, act="lsq", act_bits=4)]
W8A8 = [QuantRule(path_regex="kernel$", weight="uniform", weight_bits=8, act="uniform")]


@pytest.fixture(scope="module")
def lenet():
    model = get_model("lenet5")
    x = jax.random.normal(jax.random.key(0), (8, 8, 8, 1))
    return model, model.init(jax.random.key(1), x), x


class TiedLM(nn.Module):
    """Embed lookup -> nn.Einsum -> Embed.attend (tied output), to cover those layer types."""

    @nn.compact
    def __call__(self, ids, train=False):
        emb = nn.Embed(20, 8, name="emb")
        h = nn.Einsum((8, 2, 4), "bld,dhk->blhk", name="proj")(emb(ids))
        return emb.attend(h.reshape(*h.shape[:2], 8))


def test_layers_selected_by_first_matching_rule(lenet):
    model, variables, x = lenet
    rules = [
        QuantRule(path_regex="fc3"),  # excludes the classifier
        QuantRule(path_regex="conv", weight="twn", weight_bits=2),
        QuantRule(path_regex="kernel$", weight="uniform", weight_bits=8, act="uniform"),
    ]
    qmodel = quantize_model(model, variables, rules)
    picked = {spec.name: spec.rule.weight for spec in qmodel.layers.values()}
    assert picked == {"conv1": "twn", "conv2": "twn", "fc1": "uniform", "fc2": "uniform"}
    assert [s.name for s in qmodel.input_layers()] == ["fc1", "fc2"]


def test_fake_quant_forward_matches_manual_layer(key):
    model = get_model("mlp", features=(6,), num_classes=3)
    x = jax.random.normal(key, (5, 4))
    variables = model.init(jax.random.key(1), x)
    rules = [QuantRule(path_regex="Dense_0/kernel", weight="uniform", weight_bits=4, act="uniform")]
    qat, apply_fn = prepare(model, variables, rules, [x])
    p = variables["params"]
    from efficient_jax.quant import uniform_quantize

    xq = uniform_quantize(x, 8, scale=jnp.max(jnp.abs(x)) / 127)
    h = nn.relu(xq @ uniform_quantize(p["Dense_0"]["kernel"], 4) + p["Dense_0"]["bias"])
    want = h @ p["head"]["kernel"] + p["head"]["bias"]
    np.testing.assert_allclose(apply_fn(qat, x), want, rtol=1e-5, atol=1e-6)


def test_static_activation_range_clips_outside_calibration(key):
    model = nn.Dense(1, use_bias=False)
    x = jnp.array([[0.5], [-1.0]])
    variables = {"params": {"kernel": jnp.ones((1, 1))}}
    qat, apply_fn = prepare(model, variables, [QuantRule(act="uniform")], [x])
    assert float(qat["quant_stats"]["input"]["hi"]) == 1.0
    np.testing.assert_allclose(apply_fn(qat, jnp.array([[3.0]])), [[1.0]], rtol=1e-6)


def test_calibration_statistics_and_learned_act_init(lenet):
    model, variables, x = lenet
    rules = [
        QuantRule(path_regex="fc1", act="pact", act_bits=4),
        QuantRule(path_regex="fc2", act="lsq", act_bits=4),
        QuantRule(path_regex="fc3", act="uniform", act_calibration="percentile,99"),
    ]
    halves = [x[:4], x[4:]]
    qmodel = quantize_model(model, variables, rules, calibration_batches=halves)
    inputs = {}  # the float inputs of the three Dense layers, recorded with an interceptor
    qmodel_w = quantize_model(
        model, variables, [QuantRule(path_regex="fc", weight="bwn", weight_bits=1)]
    )
    from efficient_jax.qat import intercept_layers

    def record(call):
        inputs.setdefault(call.spec.name, []).append(call.inputs)
        return call.run(call.inputs)

    for half in halves:
        with intercept_layers(qmodel_w.layers, record):
            model.apply(variables, half)
    st = qmodel.stats
    fc1 = jnp.concatenate(inputs["fc1"])
    np.testing.assert_allclose(st["fc1"]["input"]["max"], fc1.max(), rtol=1e-6)
    np.testing.assert_allclose(st["fc1"]["input"]["mean_abs"], jnp.abs(fc1).mean(), rtol=1e-5)
    per_batch = [jnp.percentile(jnp.abs(a), 99) for a in inputs["fc3"]]
    np.testing.assert_allclose(st["fc3"]["input"]["hi"], np.mean(per_batch), rtol=1e-5)
    qat = qmodel.init(variables)
    np.testing.assert_allclose(qat["quant"]["fc1"]["input"]["alpha"], fc1.max(), rtol=1e-6)
    fc2 = jnp.concatenate(inputs["fc2"])
    want_step = 2 * jnp.abs(fc2).mean() / np.sqrt(7)  # LSQ: 2 mean|x| / sqrt(Qp), Qp = 7
    np.testing.assert_allclose(qat["quant"]["fc2"]["input"]["step"], want_step, rtol=1e-5)


def test_jit_does_not_recompile_on_second_call(lenet):
    model, variables, x = lenet
    qat, apply_fn = prepare(model, variables, W4A4_LSQ, [x])
    traces = []

    def fwd(p, x):
        traces.append(1)
        return apply_fn(p, x)

    jitted = jax.jit(fwd)
    y1 = jitted(qat, x)
    qat2 = jax.tree.map(lambda a: a * 1.01, qat)
    y2 = jitted(qat2, x + 0.1)
    assert len(traces) == 1
    assert y1.shape == y2.shape and not np.allclose(y1, y2)


def test_grads_reach_lsq_steps_and_latent_weights(lenet):
    model, variables, x = lenet
    qat, apply_fn = prepare(model, variables, W4A4_LSQ, [x])
    labels = jnp.arange(x.shape[0]) % 10

    def loss(p):
        logits = apply_fn(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    grads = jax.jit(jax.grad(loss))(qat)
    for layer in ("conv1", "conv2", "fc1", "fc2", "fc3"):
        for g in (
            grads["quant"][layer]["kernel"]["step"],
            grads["quant"][layer]["input"]["step"],
            grads["params"][layer]["kernel"],
        ):
            assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0, layer


def test_qat_training_reduces_loss_on_digits(lenet):
    from efficient_jax.data import load_digits

    model, _, _ = lenet
    train = load_digits()["train"]
    x = jnp.asarray(train["image"][:256])
    y = jnp.asarray(train["label"][:256])
    variables = model.init(jax.random.key(0), x[:1])
    qat, apply_fn = prepare(model, variables, W4A4_LSQ, [x[:64]])
    tx = optax.adam(1e-2)
    trainable = {k: qat[k] for k in ("params", "quant")}
    opt = tx.init(trainable)

    def loss(t):
        logits = apply_fn({**qat, **t}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(t, opt):
        value, g = jax.value_and_grad(loss)(t)
        updates, opt = tx.update(g, opt, t)
        return optax.apply_updates(t, updates), opt, value

    losses = []
    for _ in range(30):
        trainable, opt, value = step(trainable, opt)
        losses.append(float(value))
    assert losses[-1] < 0.7 * losses[0]


def test_sharded_batch_stays_sharded(lenet):
    model, variables, x = lenet
    mesh = jax.make_mesh((8,), ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.P("data"))
    xs = jax.device_put(x, sharding)
    qat, apply_fn = prepare(model, variables, W4A4_LSQ, [x])
    ref = jax.jit(model.apply)(variables, xs)
    out = jax.jit(apply_fn)(qat, xs)
    assert out.sharding.is_equivalent_to(ref.sharding, out.ndim)
    assert out.sharding.is_equivalent_to(sharding, out.ndim)


def test_einsum_embed_attend_and_root_layer(key):
    model = TiedLM()
    ids = jax.random.randint(key, (2, 5), 0, 20)
    variables = model.init(jax.random.key(1), ids)
    rules = [
        QuantRule(path_regex="emb", weight="twn", weight_bits=2, act="uniform"),
        QuantRule(path_regex="proj", weight="uniform", weight_bits=4, act="lsq", act_bits=4),
    ]
    qat, apply_fn = prepare(model, variables, rules, [ids])
    assert set(qat["quant_stats"]) == {"emb", "proj"}  # emb: the attend query
    y = jax.jit(apply_fn)(qat, ids)
    assert y.shape == (2, 5, 20) and not np.allclose(y, model.apply(variables, ids))


def test_rule_matching_nothing_warns_with_paths(lenet):
    model, variables, _ = lenet
    with pytest.warns(UserWarning, match=r"matches no parameter.*conv1/kernel"):
        quantize_model(
            model,
            variables,
            [*W8A8, QuantRule(path_regex="attention", weight="bwn", weight_bits=1)],
        )


def test_rule_matching_only_non_weights_raises(lenet):
    model, variables, _ = lenet
    with pytest.raises(ValueError, match=r"matches only \[.*fc1/bias.*not layer weights"):
        quantize_model(model, variables, [QuantRule(path_regex="bias$", weight="uniform")])


def test_empty_calibration_set_names_layers(lenet):
    model, variables, _ = lenet
    with pytest.raises(ValueError, match=r"Empty calibration set.*conv1.*fc3"):
        prepare(model, variables, W8A8, [])
    with pytest.raises(ValueError, match=r"No activation statistics for layers \['conv1'"):
        quantize_model(model, variables, W8A8).init(variables)


def test_nan_calibration_inputs_raise(lenet):
    model, variables, x = lenet
    with pytest.raises(ValueError, match="batch 1 contains NaN"):
        prepare(model, variables, W8A8, [x, x.at[0, 0, 0, 0].set(jnp.nan)])
    bad = jax.tree.map(lambda a: a, variables)
    bad["params"]["conv1"]["bias"] = bad["params"]["conv1"]["bias"].at[0].set(jnp.inf)
    with pytest.raises(ValueError, match="input of layer 'conv2' is NaN/inf"):
        prepare(model, bad, W8A8, [x])


def test_unsupported_layer_type_raises(key):
    model = nn.DenseGeneral((2, 3))
    x = jnp.ones((1, 4))
    variables = model.init(key, x)
    rules = [QuantRule(path_regex="kernel$", weight="uniform", act="uniform")]
    with pytest.raises(ValueError, match="DenseGeneral"):
        prepare(model, variables, rules, [x])
    qmodel = quantize_model(
        model, variables, [QuantRule(path_regex="kernel$", weight="bwn", weight_bits=1)]
    )
    with pytest.raises(ValueError, match="weight of a DenseGeneral layer"):
        qmodel(qmodel.init(variables), x)


def test_calibrate_accepts_text_batches_and_qat_params(key):
    model = get_model(
        "tiny_bert",
        vocab_size=30,
        hidden_size=16,
        num_heads=2,
        intermediate_size=32,
        num_layers=1,
        max_position=8,
    )
    ids = jax.random.randint(key, (2, 8), 0, 30)
    variables = model.init(jax.random.key(1), ids)
    batch = {"input_ids": ids, "attention_mask": jnp.ones_like(ids), "label": jnp.zeros(2)}
    qat, apply_fn = prepare(model, variables, W4A4_LSQ, [batch])
    again = calibrate(apply_fn, qat, [batch])
    np.testing.assert_allclose(
        again["layer_0"]["intermediate"]["input"]["max"],
        qat["quant_stats"]["layer_0"]["intermediate"]["input"]["max"],
        rtol=1e-6,
    )
    assert apply_fn(qat, ids, attention_mask=batch["attention_mask"]).shape == (2, 2)
