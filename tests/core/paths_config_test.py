import jax.numpy as jnp
import ml_collections
import pytest

from efficient_jax import core


def test_first_matching_rule_wins_and_unused_rule_warns():
    params = {"conv": {"kernel": jnp.ones((3, 3)), "bias": jnp.ones(3)}, "head": {"kernel": 1.0}}
    with pytest.warns(UserWarning, match="matches no parameter.*conv/bias"):
        out = core.match_rules(params, [("head", 2), ("kernel", 4), ("nothing_here", 8)])
    assert out == {"conv": {"kernel": 4, "bias": None}, "head": {"kernel": 2}}


def test_bad_regex_is_a_value_error():
    with pytest.raises(ValueError, match="Invalid regex"):
        core.match_rules({"a": 1}, [("(", 1)])


def test_parse_arg_types_and_unknown():
    assert core.parse_arg("runlocal,n=3,lr=0.5", runlocal=False, n=1, lr=0.1) == {
        "runlocal": True,
        "n": 3,
        "lr": 0.5,
    }
    with pytest.raises(ValueError, match="valid: \\['n'\\]"):
        core.parse_arg("m=1", n=1)


def test_check_overrides_lists_valid_keys():
    config = ml_collections.ConfigDict({"a": 1, "sub": {"b": 2}})
    core.check_overrides(["--config.a=3", "--config.sub.b=4", "--workdir=x"], config)
    with pytest.raises(ValueError, match="Unknown config key 'c'.*'sub.b'"):
        core.check_overrides(["--config.c=1"], config)


def test_registry_unknown_name():
    reg = core.Registry("thing")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="Unknown thing 'b'; valid: \\['a'\\]"):
        reg.get("b")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(2)


def test_registry_reads_like_a_mapping():
    reg = core.Registry("thing")
    assert reg.register("b", 2) == 2 and reg.register("a")(1) == 1
    assert reg.names() == list(reg) == ["b", "a"] and len(reg) == 2
    assert reg["a"] == 1 and dict(reg.items()) == {"b": 2, "a": 1} and "b" in reg
    with pytest.raises(ValueError, match="Unknown thing 'c'; valid: \\['a', 'b'\\]"):
        reg["c"]
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", 3)
