"""Storage of shared weights: fixed-length or Huffman-coded indices, compression ratio, export.

A shared layer stores ``K·s`` centroid values (``weight_bits`` each, 32 by default) and ``N``
indices. With fixed-length indices each takes ``⌈log2 K⌉`` bits (Deep Compression, Han et al.
2016, the CR definition Deep k-Means follows); with Huffman coding the indices take ``Σ_j n_j·ℓ_j``
bits for the code lengths ``ℓ_j`` of the empirical index distribution, plus ``8·K`` bits for the
canonical code-length table. Leaves that are not shared are stored as they are (their dtype's
width), so the model CR counts biases, BatchNorm and dense layers in full.

Example:
    >>> import numpy as np
    >>> huffman_code_lengths(np.array([4, 2, 1, 1])).tolist()
    [1, 2, 3, 3]
    >>> idx = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    >>> index_bits(idx, 4, "fixed"), index_bits(idx, 4, "huffman")
    (16, 46)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from efficient_jax.core import path_strings
from efficient_jax.cost import dtype_bits
from efficient_jax.share._codebook import Codebook

INDEX_CODINGS = ("fixed", "huffman")


def huffman_code_lengths(counts: Any) -> np.ndarray:
    """Huffman code length of each symbol (0 for symbols that never occur; 0 if only one does)."""
    counts = np.asarray(counts, np.int64)
    lengths = np.zeros(counts.shape[0], np.int64)
    used = [int(i) for i in np.flatnonzero(counts > 0)]
    if len(used) <= 1:
        return lengths
    heap = [(int(counts[i]), i, [i]) for i in used]
    heapq.heapify(heap)
    tie = counts.shape[0]
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for i in s1 + s2:
            lengths[i] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def fixed_index_bits(k: int) -> int:
    """Bits of one fixed-length index into ``k`` centroids (0 for ``k = 1``)."""
    return max(0, math.ceil(math.log2(k)))


def index_bits(indices: Any, k: int, coding: str = "fixed") -> int:
    """Total bits of ``indices`` with fixed-length or Huffman coding (incl. its length table)."""
    if coding not in INDEX_CODINGS:
        raise ValueError(f"Unknown index coding {coding!r}; allowed: {', '.join(INDEX_CODINGS)}.")
    indices = np.asarray(indices).ravel()
    if coding == "fixed":
        return indices.size * fixed_index_bits(k)
    counts = np.bincount(indices, minlength=k)
    return int(np.sum(counts * huffman_code_lengths(counts))) + 8 * k


def _is_codebook(x: Any) -> bool:
    return isinstance(x, Codebook)


def codebook_bits(cb: Codebook, coding: str = "fixed", weight_bits: int = 32) -> int:
    """Bits of one codebook: ``K·s·weight_bits`` for the centroids plus the indices."""
    return cb.centroids.size * weight_bits + index_bits(jax.device_get(cb.indices), cb.k, coding)


def shared_bits(tree: Any, coding: str = "fixed", weight_bits: int = 32) -> int:
    """Storage bits of a params pytree whose shared leaves are :class:`Codebook` s."""
    total = 0
    for leaf in jax.tree.leaves(tree, is_leaf=_is_codebook):
        if isinstance(leaf, Codebook):
            total += codebook_bits(leaf, coding, weight_bits)
        elif hasattr(leaf, "dtype"):
            total += int(np.size(leaf)) * dtype_bits(leaf.dtype)
    return total


def compression_ratio(
    original: Any, shared: Any, coding: str = "fixed", weight_bits: int = 32
) -> float:
    """Original storage bits over shared storage bits (see :func:`shared_bits`).

    Args:
      original: the uncompressed pytree (e.g. ``variables``).
      shared: the same pytree with some leaves replaced by :class:`Codebook` s.
      coding: ``"fixed"`` or ``"huffman"`` indices.
      weight_bits: bits of one centroid value.
    """
    return shared_bits(original) / shared_bits(shared, coding, weight_bits)


def layer_ratios(shared: Any, coding: str = "fixed", weight_bits: int = 32) -> dict[str, float]:
    """Per-codebook CR (``N·s·32`` over the codebook's bits), keyed by leaf path."""
    out = {}
    paths = path_strings(jax.tree.map(lambda _: 0, shared, is_leaf=_is_codebook))
    for path, leaf in zip(paths, jax.tree.leaves(shared, is_leaf=_is_codebook), strict=True):
        if isinstance(leaf, Codebook):
            out[path] = math.prod(leaf.shape) * 32 / codebook_bits(leaf, coding, weight_bits)
    return out


def pack_indices(indices: Any, bits: int) -> np.ndarray:
    """Packs non-negative integers below ``2**bits`` into a little-endian ``uint8`` bit stream."""
    if not 1 <= bits <= 32:
        raise ValueError(f"index bits must be in 1..32; got {bits}.")
    idx = np.asarray(indices, np.uint64).ravel()
    if idx.size and int(idx.max()) >= 2**bits:
        raise ValueError(f"index {int(idx.max())} does not fit in {bits} bits.")
    bitmat = ((idx[:, None] >> np.arange(bits, dtype=np.uint64)) & 1).astype(np.uint8)
    return np.packbits(bitmat.ravel(), bitorder="little")


def unpack_indices(packed: Any, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack_indices`: ``n`` int32 indices."""
    flat = np.unpackbits(np.asarray(packed, np.uint8), bitorder="little")[: n * bits]
    weights = (1 << np.arange(bits, dtype=np.int64))[None, :]
    return (flat.reshape(n, bits).astype(np.int64) * weights).sum(axis=1).astype(np.int32)


def export_codebook(cb: Codebook) -> dict[str, np.ndarray]:
    """Packed arrays of one codebook: ``centroids``, bit-packed ``indices`` and ``meta``.

    ``meta`` is ``[N, K, bits, *shape]`` (int64); :func:`import_codebook` inverts this exactly.
    """
    bits = max(1, fixed_index_bits(cb.k))
    idx = np.asarray(jax.device_get(cb.indices))
    meta = np.array([idx.size, cb.k, bits, *cb.shape], np.int64)
    return {
        "centroids": np.asarray(jax.device_get(cb.centroids)),
        "indices": pack_indices(idx, bits),
        "meta": meta,
        "layout": np.frombuffer(cb.layout.encode(), np.uint8),
    }


def import_codebook(arrays: Mapping[str, np.ndarray]) -> Codebook:
    """Rebuilds a :class:`Codebook` from :func:`export_codebook`'s arrays."""
    n, _, bits, *shape = (int(v) for v in arrays["meta"])
    idx = unpack_indices(arrays["indices"], bits, n)
    layout = bytes(np.asarray(arrays["layout"], np.uint8)).decode()
    return Codebook(idx, np.asarray(arrays["centroids"]), tuple(shape), layout)
