"""TinyBert: outputs for distillation, masking, token types, validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import models

_SMALL = dict(vocab_size=40, hidden_size=16, num_layers=2, num_heads=4, intermediate_size=32)


def _ids(n=2, length=6):
    return (jnp.arange(n * length).reshape(n, length) * 7) % 40


def test_aux_outputs(key):
    model = models.TinyBert(**_SMALL)
    ids = _ids()
    variables = model.init(key, ids)
    logits, aux = model.apply(variables, ids, return_aux=True)
    np.testing.assert_array_equal(logits, model.apply(variables, ids))
    assert logits.shape == (2, 2)
    assert len(aux["hidden_states"]) == 3
    assert all(h.shape == (2, 6, 16) for h in aux["hidden_states"])
    assert len(aux["attentions"]) == 2
    for probs in aux["attentions"]:
        assert probs.shape == (2, 4, 6, 6)
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_padding_is_ignored(key):
    """Padded positions get zero attention, and what they hold does not change the logits."""
    model = models.TinyBert(**_SMALL)
    ids = _ids()
    mask = jnp.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
    variables = model.init(key, ids)
    logits, aux = model.apply(variables, ids, attention_mask=mask, return_aux=True)
    np.testing.assert_allclose(aux["attentions"][0][0, :, :, 4:], 0.0, atol=1e-7)
    other = ids.at[0, 4:].set(3)
    np.testing.assert_allclose(
        model.apply(variables, other, attention_mask=mask)[0], logits[0], rtol=1e-5, atol=1e-6
    )


def test_token_types_change_output(key):
    model = models.TinyBert(**_SMALL)
    ids = _ids()
    variables = model.init(key, ids)
    types = jnp.ones_like(ids)
    assert not np.allclose(
        model.apply(variables, ids), model.apply(variables, ids, token_type_ids=types)
    )


def test_param_names_for_quantization_rules(key):
    model = models.TinyBert(**_SMALL)
    params = jax.eval_shape(model.init, key, _ids())["params"]
    attn = params["layer_0"]["attention"]
    assert sorted(attn) == ["key", "output", "output_LayerNorm", "query", "value"]
    assert attn["query"]["kernel"].shape == (16, 16)


def test_hidden_not_divisible_by_heads():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        models.TinyBert(hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="divisible"):
        models.get_model("tiny_bert", hidden_size=128, num_heads=3)


def test_sequence_longer_than_max_position(key):
    model = models.TinyBert(**_SMALL, max_position=4)
    with pytest.raises(ValueError, match="max_position=4"):
        model.init(key, _ids())
