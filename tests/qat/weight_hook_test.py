"""``QuantizedModel.apply``'s weight hook and ``fake_quant_params``."""

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax import qat, quant
from efficient_jax.models import get_model


def _model():
    model = get_model("mlp", features=(8,), num_classes=3)
    x = jax.random.normal(jax.random.key(0), (4, 5))
    variables = model.init(jax.random.key(1), x)
    rules = [qat.QuantRule(path_regex="kernel$", weight="lsq", weight_bits=4, act="lsq")]
    qat_params, qmodel = qat.prepare(model, variables, rules, [x])
    return model, x, qat_params, qmodel


def test_default_hook_is_fake_quant_weight():
    _, x, qat_params, qmodel = _model()
    seen = []

    def hook(call, layer_quant):
        seen.append((call.spec.name, sorted(layer_quant)))
        return qat.fake_quant_weight(call, layer_quant)

    out = qmodel.apply(qat_params, x, weight_fn=hook)
    np.testing.assert_array_equal(out, qmodel(qat_params, x))
    assert seen == [("Dense_0", ["input", "kernel"]), ("head", ["input", "kernel"])]


def test_hook_replaces_the_weight_and_keeps_the_input_quantizer():
    _, x, qat_params, qmodel = _model()
    zero = lambda call, lq: jnp.zeros_like(call.weight())
    out = qmodel.apply(qat_params, x, weight_fn=zero)
    bias = qat_params["params"]["head"]["bias"]
    np.testing.assert_allclose(out, jnp.broadcast_to(bias, out.shape))
    grads = jax.grad(lambda p: qmodel.apply(p, x, weight_fn=zero).sum())(qat_params)
    assert float(jnp.abs(grads["params"]["head"]["kernel"]).sum()) == 0.0


def test_fake_quant_params_matches_the_quantizers():
    params = {
        "conv1": {"kernel": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "bias": jnp.ones(4)},
        "fc3": {"kernel": jnp.linspace(-2.0, 1.0, 8).reshape(4, 2)},
    }
    twn = qat.QuantRule(path_regex="kernel$", weight="twn", weight_bits=2)
    out = qat.fake_quant_params(params, [qat.QuantRule(path_regex="fc3"), twn])
    conv1 = params["conv1"]["kernel"]
    np.testing.assert_array_equal(out["conv1"]["kernel"], quant.twn_quantize(conv1))
    np.testing.assert_array_equal(out["fc3"]["kernel"], params["fc3"]["kernel"])
    np.testing.assert_array_equal(out["conv1"]["bias"], params["conv1"]["bias"])
