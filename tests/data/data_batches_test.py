"""Tests for batch_at / iterate_batches / eval_batches: determinism, resume, padding, sharding."""

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from efficient_jax.data import batch_at, eval_batches, iterate_batches, steps_per_epoch
from efficient_jax.parallel import make_mesh


def _data(n=20):
    return {"x": np.arange(n, dtype=np.int32), "y": np.arange(n, dtype=np.float32)[:, None] * 2}


def test_batch_at_is_a_pure_function_of_step():
    data = _data()
    a = batch_at(data, 7, 6, seed=1)
    b = batch_at(data, 7, 6, seed=1)
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["y"][:, 0], a["x"] * 2)  # rows stay aligned across keys
    assert not np.array_equal(batch_at(data, 7, 6, seed=2)["x"], a["x"])


def test_epochs_cover_without_repeats_and_reshuffle():
    data = _data(20)
    assert steps_per_epoch(data, 6) == 3  # remainder of 2 dropped
    epoch0 = np.concatenate([batch_at(data, s, 6, seed=0)["x"] for s in range(3)])
    epoch1 = np.concatenate([batch_at(data, s, 6, seed=0)["x"] for s in range(3, 6)])
    assert len(set(epoch0.tolist())) == 18 and len(set(epoch1.tolist())) == 18
    assert not np.array_equal(epoch0, epoch1)
    ordered = [batch_at(data, s, 6, seed=0, shuffle=False)["x"].tolist() for s in (0, 3)]
    assert ordered == [list(range(6)), list(range(6))]


@pytest.mark.parametrize("k", [0, 1, 3, 4, 7])
def test_resume_equals_tail_of_uninterrupted_run(k):
    data = _data(20)
    full = list(iterate_batches(data, 6, seed=5, num_steps=10))
    resumed = list(iterate_batches(data, 6, seed=5, start_step=k, num_steps=10 - k))
    assert len(resumed) == 10 - k
    for a, b in zip(full[k:], resumed):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
    for s, a in enumerate(full):
        np.testing.assert_array_equal(a["x"], batch_at(data, s, 6, seed=5)["x"])


def test_iterate_forever_without_num_steps():
    it = iterate_batches(_data(8), 4, seed=0)
    assert len([next(it) for _ in range(9)]) == 9


def test_eval_batches_pad_and_mask():
    data = _data(10)
    batches = list(eval_batches(data, 4))
    assert len(batches) == 3
    assert all(b["x"].shape == (4,) and b["mask"].dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(batches[-1]["mask"], [1, 1, 0, 0])
    np.testing.assert_array_equal(batches[-1]["x"], [8, 9, 0, 0])
    real = np.concatenate([b["x"][b["mask"] > 0] for b in batches])
    np.testing.assert_array_equal(real, data["x"])
    (single,) = eval_batches({"x": np.arange(3)}, 8)  # batch larger than the set: one padded batch
    assert single["mask"].sum() == 3 and single["x"].shape == (8,)


def test_sharded_placement_on_8_device_mesh():
    mesh = make_mesh()
    assert mesh.shape["data"] == 8
    data = _data(40)
    batch = next(iterate_batches(data, 16, seed=0, start_step=3, mesh=mesh))
    assert isinstance(batch["x"], jax.Array)
    assert batch["x"].sharding.is_equivalent_to(NamedSharding(mesh, P("data")), 1)
    assert len(batch["y"].addressable_shards) == 8 and batch["y"].addressable_shards[
        0
    ].data.shape == (2, 1)
    np.testing.assert_array_equal(np.asarray(batch["x"]), batch_at(data, 3, 16, seed=0)["x"])
    ev = list(eval_batches(data, 16, mesh=mesh))
    assert ev[-1]["mask"].sharding.is_equivalent_to(NamedSharding(mesh, P("data")), 1)
    assert float(sum(b["mask"].sum() for b in ev)) == 40.0


def test_bad_inputs():
    data = _data(10)
    for bs in (0, -1, 11, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            batch_at(data, 0, bs, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        iterate_batches(data, 11, seed=0)  # raised at the call, not at the first next()
    with pytest.raises(ValueError, match="batch_size"):
        eval_batches(data, 0)
    with pytest.raises(ValueError) as e:
        batch_at({"image": np.zeros((10, 2)), "label": np.zeros(9)}, 0, 2, seed=0)
    assert "image" in str(e.value) and "label" in str(e.value) and "10" in str(e.value)
    with pytest.raises(ValueError, match="step"):
        batch_at(data, -1, 2, seed=0)
    with pytest.raises(ValueError, match="seed"):
        iterate_batches(data, 2, seed=-3)
    with pytest.raises(ValueError, match="non-empty"):
        batch_at({}, 0, 1, seed=0)
    with pytest.raises(ValueError, match="mask"):
        eval_batches({"x": np.arange(4), "mask": np.ones(4)}, 2)
    with pytest.raises(ValueError, match="multiple of the 8 devices"):
        iterate_batches(_data(40), 12, seed=0, mesh=make_mesh())
