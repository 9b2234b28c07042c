"""Cost-aware comparison: Pareto front, equal-cost matching, scaled variants."""

import flax.linen as nn
import jax
import pytest

from efficient_jax import cost
from efficient_jax.models import MLP

P = cost.CostPoint


def test_pareto_and_budget():
    pts = [P("a", 0.7, 1), P("b", 0.8, 4), P("c", 0.75, 5), P("d", 0.8, 3), P("e", 0.9, 10)]
    assert [p.name for p in cost.pareto_front(pts)] == ["a", "d", "e"]
    assert cost.accuracy_at_cost(pts, 4).name == "d"
    assert cost.accuracy_at_cost(pts, 0.5) is None
    assert cost.cheapest_at_accuracy(pts, 0.8).name == "d"


def test_compare_at_equal_cost():
    cands = [P("c1", 0.81, 2.0), P("c2", 0.85, 8.0)]
    rows = cost.compare_at_equal_cost(cands, [P("big", 0.80, 10.0)])
    (r,) = rows
    assert r["same_cost_name"] == "c2" and r["accuracy_gain"] == pytest.approx(0.05)
    assert r["same_accuracy_name"] == "c1" and r["speedup"] == pytest.approx(5.0)
    (r,) = cost.compare_at_equal_cost(cands, [P("tiny", 0.9, 1.0)])
    assert r["same_cost_name"] is None and r["speedup"] is None


def test_scaling_variants_flops():
    def make(d, w):
        return MLP(features=(int(16 * w),) * int(d), num_classes=10)

    vs = cost.scaling_variants(make, (8, 8, 1), depth=(1, 2), width=(1, 2), resolution=(1, 1.5))
    assert len(vs) == 8
    flops = {v.name: cost.variant_flops(v, jax.random.key(0)) for v in vs}
    assert flops["d1-w1-r1"] == 2 * (64 * 16 + 16 * 10)
    assert flops["d1-w1-r1.5"] == 2 * (144 * 16 + 16 * 10)
    assert flops["d2-w2-r1"] == 2 * (64 * 32 + 32 * 32 + 32 * 10)
    with pytest.raises(ValueError, match="> 0"):
        cost.scaling_variants(make, (8, 8, 1), width=(0,))
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        cost.scaling_variants(lambda d, w: nn.Dense(3), (5,), resolution=(2,))
    assert cost.compound_scaling(1.0) == pytest.approx((1.2, 1.1, 1.15))
