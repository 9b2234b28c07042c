import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax import share


def test_huffman_lengths_and_bits_match_hand_computation():
    # counts 4,2,1,1 -> codes 0, 10, 110, 111 -> 4·1 + 2·2 + 1·3 + 1·3 = 14 bits (+ 8·K table)
    assert share.huffman_code_lengths(np.array([4, 2, 1, 1])).tolist() == [1, 2, 3, 3]
    idx = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    assert share.index_bits(idx, 4, "huffman") == 14 + 32
    assert share.index_bits(idx, 4, "fixed") == 16
    assert share.huffman_code_lengths(np.array([5, 0])).tolist() == [0, 0]
    with pytest.raises(ValueError, match="allowed: fixed, huffman"):
        share.index_bits(idx, 4, "arithmetic")


def test_compression_ratio_of_a_codebook_pytree_by_hand():
    # Kernel 1x4x1x8: N = 8 rows of s = 4; K = 2 -> 2·4·32 + 8·1 = 264 bits; bias 8·32 = 256.
    indices = jnp.array([0, 0, 0, 0, 0, 0, 1, 1], jnp.int32)
    cb = share.Codebook(indices, jnp.ones((2, 4)), (1, 4, 1, 8), "row")
    original = {"kernel": jnp.ones((1, 4, 1, 8)), "bias": jnp.ones(8)}
    shared = {"kernel": cb, "bias": jnp.ones(8)}
    assert share.shared_bits(shared) == 264 + 256
    assert share.compression_ratio(original, shared) == pytest.approx((32 * 32 + 256) / 520)
    # Huffman: counts (6, 2) -> 1 bit each = 8 bits + 16-bit table.
    assert share.shared_bits(shared, "huffman") == 256 + 8 + 16 + 256
    assert share.layer_ratios(shared)["kernel"] == pytest.approx(1024 / 264)


@pytest.mark.parametrize("bits", [1, 3, 8, 11])
def test_pack_unpack_round_trip(bits):
    idx = np.random.RandomState(bits).randint(0, 2**bits, size=37)
    packed = share.pack_indices(idx, bits)
    assert packed.dtype == np.uint8 and packed.size == -(-37 * bits // 8)
    np.testing.assert_array_equal(share.unpack_indices(packed, bits, 37), idx)


def test_export_import_is_exact(key):
    kernel = jax.random.normal(key, (3, 3, 2, 4))
    cb = share.Codebook.share(kernel, 5, key=key)
    arrays = share.export_codebook(cb)
    assert arrays["indices"].nbytes == -(-24 * 3 // 8)
    back = share.import_codebook(arrays)
    assert back.shape == cb.shape and back.layout == "row"
    assert bool(jnp.all(back.expand() == cb.expand()))
