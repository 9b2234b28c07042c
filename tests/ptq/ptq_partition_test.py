import jax
import jax.numpy as jnp
import pytest

from efficient_jax import ptq
from efficient_jax.core import path_strings
from efficient_jax.models import TinyBert


def _params(num_layers=4):
    model = TinyBert(vocab_size=20, hidden_size=8, num_layers=num_layers, intermediate_size=16,
                     max_position=8)  # fmt: skip
    ids = jnp.arange(12).reshape(2, 6) % 20
    return model, model.init(jax.random.key(0), ids)["params"], ids


@pytest.mark.parametrize("num_modules", [1, 2, 3, 4])
def test_partition_covers_every_parameter_exactly_once(num_modules):
    _, params, _ = _params()
    part = ptq.partition_modules(params, num_modules)
    owners = [part.module_of(p) for p in path_strings(params)]
    assert None not in owners
    parts = part.split(params)
    seen = [p for sub in parts for p in path_strings(sub)]
    assert sorted(seen) == sorted(path_strings(params))  # each leaf in exactly one module
    assert "word_embeddings" in parts[0] and "classifier" in parts[-1]
    assert [i for g in part.layers for i in g] == [0, 1, 2, 3]
    sizes = [len(g) for g in part.layers]
    assert max(sizes) - min(sizes) <= 1
    merged = part.merge(parts)
    assert jax.tree.all(jax.tree.map(lambda a, b: a is b, merged, params))


def test_stage_chain_equals_full_model():
    model, params, ids = _params()
    part = ptq.partition_modules(params, 2)
    x, logits = ids, None
    for stage, sub in zip(ptq.stages_for(model, part), part.split(params), strict=True):
        hidden, logits = stage.apply({"params": sub}, x)
        x = hidden[-1]
    want = model.apply({"params": params}, ids)
    assert jnp.allclose(logits, want, atol=1e-5)


def test_bad_partitions_raise():
    _, params, _ = _params(num_layers=2)
    with pytest.raises(ValueError, match="larger than the number of transformer layers"):
        ptq.partition_modules(params, 3)
    with pytest.raises(ValueError, match="positive integer"):
        ptq.partition_modules(params, 0)
    with pytest.raises(ValueError, match="exactly once"):
        ptq.partition_modules(params, 2, head_regex=r"^classifier/")  # pooler unassigned
