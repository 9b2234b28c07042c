"""Adaptive splitting: the knapsack DP against brute force, sensitivities, budgeted selection."""

import numpy as np
import pytest

from efficient_jax import binarybert


@pytest.mark.parametrize("seed", range(40))
def test_knapsack_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    z = int(rng.integers(1, 13))
    values = rng.normal(1.0, 1.0, z)  # includes non-positive values
    costs = rng.integers(0, 25, z)
    capacity = int(rng.integers(0, 80))
    best, chosen = binarybert.knapsack(values, costs, capacity)
    ref, _ = binarybert.brute_force_knapsack(values, costs, capacity)
    assert best == pytest.approx(ref, abs=1e-9)
    assert costs[chosen].sum() <= capacity
    assert values[chosen].sum() == pytest.approx(best, abs=1e-9)


def test_knapsack_rejects_bad_input():
    with pytest.raises(ValueError, match="integers"):
        binarybert.knapsack([1.0], [1.5], 3)
    with pytest.raises(ValueError, match="non-negative"):
        binarybert.knapsack([1.0], [-1], 3)
    with pytest.raises(ValueError, match="capacity"):
        binarybert.knapsack([1.0], [1], -1)
    with pytest.raises(ValueError, match="equal length"):
        binarybert.knapsack([1.0, 2.0], [1], 3)


def test_sensitivity_scores_and_selection():
    names = ["layer_0/attention/query", "layer_0/intermediate", "layer_1/intermediate", "pooler"]
    gains = {"MHA-QK": 2.0, "FFN-Mid": 8.0, "layer_0": 4.0, "layer_1": 1.0, "pooler": 0.5}
    sizes = {"MHA-QK": 2, "FFN-Mid": 4, "layer_0": 4, "layer_1": 4, "pooler": 1}
    s = binarybert.sensitivity_scores(gains, sizes, names)
    assert s["layer_0/attention/query"] == pytest.approx(2.0 / 2 + 4.0 / 4)
    assert s["layer_0/intermediate"] == pytest.approx(8.0 / 4 + 4.0 / 4)
    assert s["pooler"] == pytest.approx(0.5)
    extra = {
        "layer_0/attention/query": 10,
        "layer_0/intermediate": 20,
        "layer_1/intermediate": 20,
        "pooler": 5,
    }
    # Budget 30: the best subset is the FFN-Mid of layer 0 + the query (3 + 2 > 3 + 2.25?)
    chosen = binarybert.select_splits(s, extra, 30)
    value = sum(s[n] for n in chosen)
    brute, _ = binarybert.brute_force_knapsack(
        [s[n] for n in sorted(s)], [extra[n] for n in sorted(s)], 30
    )
    assert value == pytest.approx(brute) and sum(extra[n] for n in chosen) <= 30
    assert binarybert.select_splits(s, extra, 0) == []
    with pytest.raises(ValueError, match="needs gains"):
        binarybert.sensitivity_scores({}, {}, ["layer_0/intermediate"])
    assert binarybert.bert_module_group("layer_3/output") == ("FFN-Out", 3)
