import ml_collections
import pytest

from efficient_jax import train


def _config(**kw):
    base = dict(optimizer="sgd", learning_rate=0.1, schedule="cosine", warmup_steps=0)
    return ml_collections.ConfigDict({**base, **kw})


def test_schedule_warmup_then_cosine():
    sched = train.make_schedule("cosine", 1.0, 10, warmup_steps=2)
    assert float(sched(0)) == 0.0
    assert float(sched(2)) == pytest.approx(1.0)
    assert float(sched(10)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"optimizer": "lion"}, "Unknown optimizer"),
        ({"schedule": "step"}, "Unknown schedule"),
        ({"warmup_steps": 20}, "warmup_steps"),
    ],
)
def test_bad_optimizer_config(kw, match):
    with pytest.raises(ValueError, match=match):
        train.make_optimizer(_config(**kw), num_steps=10)
