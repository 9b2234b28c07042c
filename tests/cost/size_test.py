import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.cost import count_params, dtype_bits, model_bytes, model_bytes_from_tree


def _params():
    return {
        "conv": {"kernel": jnp.ones((3, 3, 4, 8)), "bias": jnp.zeros(8)},
        "head": {"kernel": jnp.ones((8, 5), jnp.bfloat16), "bias": jnp.zeros(5, jnp.bfloat16)},
    }


def test_count_params_all_and_selected():
    params = _params()
    assert count_params(params) == 288 + 8 + 40 + 5
    assert count_params(params, [r"kernel$"]) == 288 + 40
    assert count_params(params, [("bias", False), (".*", True)]) == 288 + 40
    assert count_params(jax.eval_shape(lambda: params)) == 341


def test_model_bytes_uniform_bits_rounds_up_per_leaf():
    params = _params()
    assert model_bytes(params) == 341 * 4
    # ceil per leaf: 288/8=36, 8/8=1, 40/8=5, 5/8 -> 1
    assert model_bytes(params, bits=1) == 36 + 1 + 5 + 1
    assert model_bytes(params, bits=3) == 108 + 3 + 15 + 2
    assert model_bytes(params, bits=1, overhead_bytes_per_leaf=4) == 43 + 4 * 4


def test_model_bytes_pytree_of_bits():
    params = _params()
    bits = {"conv": {"kernel": 2, "bias": 32}, "head": {"kernel": 4, "bias": 16}}
    assert model_bytes(params, bits) == 72 + 32 + 20 + 10


def test_model_bytes_rules_first_match_wins_and_dtype_fallback():
    params = _params()
    rules = [(r"conv/kernel", 2), (r"kernel", 8), (r"conv/bias", None)]
    # conv/kernel 2 bits, head/kernel 8 bits, conv/bias f32 (None), head/bias bf16 (unmatched).
    assert model_bytes(params, rules) == 72 + 40 + 8 * 4 + 5 * 2


@dataclasses.dataclass(frozen=True)
class _Rule:
    path_regex: str
    bits: int


def test_model_bytes_accepts_rule_objects():
    assert model_bytes(_params(), [_Rule(".*", 4)]) == 144 + 4 + 20 + 3


@pytest.mark.parametrize("bad", [0, 33, -1, 2.5, True, "4"])
def test_model_bytes_rejects_bad_bits(bad):
    with pytest.raises(ValueError, match="1..32"):
        model_bytes(_params(), bad)
    with pytest.raises(ValueError, match="1..32"):
        model_bytes(_params(), [("nothing-matches", bad)])


def test_model_bytes_rejects_mismatched_pytree_and_overhead():
    with pytest.raises(ValueError, match="structure"):
        model_bytes(_params(), {"conv": 4})
    with pytest.raises(ValueError, match="overhead"):
        model_bytes(_params(), 4, overhead_bytes_per_leaf=-1)


def test_dtype_bits():
    assert [dtype_bits(d) for d in (jnp.float32, jnp.bfloat16, jnp.int8, jnp.int4, bool)] == [
        32,
        16,
        8,
        4,
        8,
    ]


def test_model_bytes_from_tree_counts_array_storage():
    tree = {
        "codes": np.zeros((10, 3), np.uint8),
        "scale": jnp.ones((3,), jnp.float32),
        "meta": {"bits": 2, "name": "lsq"},
        "shape_only": jax.ShapeDtypeStruct((4,), jnp.bfloat16),
    }
    assert model_bytes_from_tree(tree) == 30 + 12 + 8
    assert model_bytes_from_tree(_params()) == 296 * 4 + 45 * 2
