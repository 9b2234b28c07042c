import jax
import jax.numpy as jnp
import pytest

from efficient_jax import ptq


def test_ring_buffer_keeps_order_and_capacity():
    buf = ptq.ring_init(3, {"x": jnp.zeros((2,)), "i": jnp.zeros((), jnp.int32)})
    assert int(buf["count"]) == 0
    for v in range(2):
        buf = ptq.ring_push(buf, {"x": jnp.full((2,), v, jnp.float32), "i": jnp.int32(v)})
    assert ptq.ring_items(buf)["i"].tolist() == [0, 1]
    for v in range(2, 7):
        buf = ptq.ring_push(buf, {"x": jnp.full((2,), v, jnp.float32), "i": jnp.int32(v)})
    items = ptq.ring_items(buf)
    assert items["i"].tolist() == [4, 5, 6]  # FIFO: the oldest were evicted
    assert items["x"][:, 0].tolist() == [4.0, 5.0, 6.0]
    assert int(buf["count"]) == 3
    buf2 = ptq.ring_push(buf, {"x": jnp.zeros((2,)), "i": jnp.int32(99)}, valid=False)
    assert ptq.ring_items(buf2)["i"].tolist() == [4, 5, 6]


def test_ring_sample_only_filled_slots():
    buf = ptq.ring_init(8, jnp.zeros((), jnp.int32))
    for v in (10, 11):
        buf = ptq.ring_push(buf, jnp.int32(v))
    draws = {int(ptq.ring_sample(buf, jax.random.key(i))) for i in range(30)}
    assert draws == {10, 11}


def test_ring_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        ptq.ring_init(0, jnp.zeros(()))
