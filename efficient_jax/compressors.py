"""Every compressor by name, registered in this one file: the quickstart table's rows.

A compressor is ``fn(variables, *, apply_fn, calib_batch) -> CompressionResult`` (see
:class:`efficient_jax.core.CompressionResult`): it returns variables that ``model.apply`` accepts
unchanged (or, with ``result.apply_fn`` set, variables for that function, e.g. an integer serving
forward), the model's storage size in bytes, and extras. The algorithms live in their packages
(``quant``, ``qat``, ``binarybert``, ``prune``, ``share``) as public factories; this module only
names configured instances of them, in the order the quickstart table lists them. Adding a
compressor is one line in :data:`_BUILTIN` (see ``docs/CONTRIBUTING.md``); user code may also
call ``COMPRESSORS.register(name)(fn)``.

Example:
    >>> from efficient_jax.compressors import available_compressors, get_compressor
    >>> available_compressors()[:3]
    ['few_shot_cd_channel50', 'magnitude_prune_50', 'magnitude_prune_50_ft']
    >>> get_compressor("ptq_w3")
    Traceback (most recent call last):
    ...
    ValueError: Unknown compressor 'ptq_w3'; valid: [...].
"""

from __future__ import annotations

from collections.abc import Callable

from efficient_jax import binarybert, prune, qat, quant, share
from efficient_jax.core import CompressionResult, Registry

Compressor = Callable[..., CompressionResult]

COMPRESSORS = Registry("compressor")

_BUILTIN: tuple[tuple[str, Compressor], ...] = (
    ("few_shot_cd_channel50", prune.few_shot_compressor(k=5, sparsity=0.5, learning_rate=1e-2)),
    ("magnitude_prune_50", prune.magnitude_pruning_compressor(0.5)),
    ("magnitude_prune_50_ft", prune.magnitude_pruning_compressor(0.5, finetune_steps=100)),
    ("magnitude_prune_80", prune.magnitude_pruning_compressor(0.8)),
    ("magnitude_prune_80_ft", prune.magnitude_pruning_compressor(0.8, finetune_steps=100)),
    ("ptq_w8a8", qat.ptq_compressor(8)),
    ("ptq_w4a8", qat.ptq_compressor(4, granularity="per_channel")),
    ("bwn_tws", binarybert.tws_compressor()),
    ("lsq_w4a4_qat", qat.qat_compressor("lsq_w4a4")),
    ("ptq_w8", quant.ptq_weights_compressor(8)),
    ("ptq_w4", quant.ptq_weights_compressor(4)),
    ("deep_kmeans_wr_cr8", share.deep_kmeans_compressor(8.0)),
    ("deep_kmeans_cr8", share.deep_kmeans_compressor(8.0, retrain_steps=100)),
    ("deep_kmeans_scalar16", share.scalar_kmeans_compressor(16)),
)

for _name, _fn in _BUILTIN:
    COMPRESSORS.register(_name)(_fn)


def available_compressors() -> list[str]:
    """Registered compressor names, in table order.

    Example:
        >>> "ptq_w8a8" in available_compressors()
        True
    """
    return COMPRESSORS.names()


def get_compressor(name: str) -> Compressor:
    """The compressor registered as ``name``; a ``ValueError`` lists the valid names.

    Example:
        >>> result = get_compressor("ptq_w8")  # doctest: +SKIP
    """
    return COMPRESSORS.get(name)
