"""BinaryBERT ternary weight splitting (TWS): one ternary matrix → two binary ones, same output.

Given latent ternary weights ``w`` with ``ŵ = TWN(w)`` (threshold ``Δ = 0.7·mean|w|``, scale
``α`` = mean of ``|w|`` over the kept set), the sets are ``I = {|w| > Δ}`` (kept),
``J = {|w| <= Δ, w > 0}`` and ``K = {|w| <= Δ, w < 0}`` (zeroed; ``w = 0`` counts in ``K``, whose
``w2 = −b + w`` stays negative). With

    a = (Σ_I|w| + Σ_K|w| − Σ_J|w|) / (2 Σ_I|w|)          # corrected Eq. 5.8 (errata 1)
    b = ((n/|I|) Σ_I|w| − Σ|w|) / (2 (|J| + |K|))          # Eq. 5.9

the split (Eqs. 5.6-5.7) is ``w1 = a·w | b + w | b`` and ``w2 = (1−a)·w | −b | −b + w`` on
``I | J | K``. Then ``w1 + w2 = w``, ``BWN(w1) = α1·sign(w1)``, ``BWN(w2) = α2·sign(w2)`` with
``α1 = α2 = α/2``, so ``BWN(w1) + BWN(w2) = TWN(w)`` exactly: the binary pair is function-
preserving for both the latent and the quantized weights. The thesis prints Eq. 5.8 with ``J``
and ``K`` swapped, which is exact only when ``Σ_J|w| = Σ_K|w|`` (``formula="printed"`` keeps it
for comparison).

The operator is offline (run once between training stages), so it computes in float64 NumPy and
casts back to the input dtype. It is not jittable.

Example:
    >>> import numpy as np
    >>> w = np.random.default_rng(0).normal(0.003, 0.05, size=(64, 32))
    >>> w1, w2 = tws_split_weight(w)
    >>> bool(np.allclose(w1 + w2, w, atol=1e-15))
    True
    >>> twn = ternary_reference(w)
    >>> float(np.max(np.abs(binary_reference(w1) + binary_reference(w2) - twn))) < 1e-12
    True

References:
  Bai (2021), §5.2.2, Eqs. 5.5-5.9 (with errata 1 of the spec); Bai et al., "BinaryBERT: Pushing
  the Limit of BERT Quantization", ACL 2021, https://arxiv.org/abs/2012.15701; official code
  ``huawei-noah/Pretrained-Language-Model/BinaryBERT/transformer/binary_model_init.py`` [ext].
"""

from __future__ import annotations

from typing import Any

import numpy as np

FORMULAS = ("corrected", "printed")


def _reduce_axes(ndim: int, granularity: str, axis: int) -> tuple[int, ...] | None:
    if granularity == "per_tensor":
        return None
    if granularity == "per_channel":
        if not -ndim <= axis < ndim:
            raise ValueError(f"axis {axis} is out of range for a {ndim}-d weight.")
        keep = axis % ndim
        return tuple(i for i in range(ndim) if i != keep)
    raise ValueError(
        f"granularity must be 'per_tensor' (one α per matrix) or 'per_channel' (one α per index "
        f"of `axis`, e.g. row-wise embeddings); got {granularity!r}."
    )


def _as_float64(w: Any, name: str) -> np.ndarray:
    arr = np.asarray(w)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name}: weights must be floating point; got dtype {arr.dtype}.")
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"{name}: weights must be a non-empty array; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: weights contain NaN or inf.")
    return arr.astype(np.float64)


def ternary_reference(w: Any, *, granularity: str = "per_tensor", axis: int = 0) -> np.ndarray:
    """TWN in float64 NumPy (strict ``|w| > Δ``), the reference the split reproduces."""
    w = _as_float64(w, "ternary_reference")
    axes = _reduce_axes(w.ndim, granularity, axis)
    delta = 0.7 * np.mean(np.abs(w), axis=axes, keepdims=True)
    kept = np.abs(w) > delta
    count = np.sum(kept, axis=axes, keepdims=True)
    alpha = np.sum(np.where(kept, np.abs(w), 0.0), axis=axes, keepdims=True) / np.maximum(count, 1)
    return np.where(kept, np.where(w > 0, alpha, -alpha), 0.0)


def binary_reference(w: Any, *, granularity: str = "per_tensor", axis: int = 0) -> np.ndarray:
    """BWN in float64 NumPy: ``mean|w| · sign(w)`` with ``sign(0) = +1``."""
    w = _as_float64(w, "binary_reference")
    axes = _reduce_axes(w.ndim, granularity, axis)
    alpha = np.mean(np.abs(w), axis=axes, keepdims=True)
    return np.where(w >= 0, alpha, -alpha)


def tws_coefficients(
    w: Any, *, granularity: str = "per_tensor", axis: int = 0, formula: str = "corrected"
) -> dict[str, np.ndarray]:
    """The split coefficients ``a``, ``b`` and the sets ``I``, ``J``, ``K`` (float64).

    Returns:
      ``{"a", "b", "alpha", "I", "J", "K"}``; ``a``, ``b``, ``alpha`` have keepdims shape (one
      value per matrix, or per channel for ``per_channel``), the sets are boolean masks.

    Raises:
      ValueError: a bad granularity/formula/axis, non-float or non-finite weights, or a group
        with no weight above the threshold (an all-zero row: nothing to split).
    """
    if formula not in FORMULAS:
        raise ValueError(f"formula must be one of {FORMULAS}; got {formula!r}.")
    w = _as_float64(w, "tws_coefficients")
    axes = _reduce_axes(w.ndim, granularity, axis)
    s = lambda x: np.sum(x, axis=axes, keepdims=True)
    absw = np.abs(w)
    delta = 0.7 * np.mean(absw, axis=axes, keepdims=True)
    in_i = absw > delta
    in_j = ~in_i & (w > 0)
    in_k = ~in_i & (w <= 0)
    n_i = s(in_i)
    if np.any(n_i == 0):
        raise ValueError(
            "tws_coefficients: a weight group (matrix or row) has no weight above the TWN "
            "threshold (all zeros?); TWS needs at least one non-zero ternary weight per group."
        )
    n = w.size if axes is None else int(np.prod([w.shape[i] for i in axes]))
    sum_i, sum_j, sum_k = s(np.where(in_i, absw, 0)), s(np.where(in_j, absw, 0)), s(absw * in_k)
    if formula == "corrected":
        a = (sum_i + sum_k - sum_j) / (2 * sum_i)
    else:  # As printed in the thesis (J and K swapped).
        a = (sum_i + sum_j - sum_k) / (2 * sum_i)
    n_zero = s(in_j) + s(in_k)
    b_num = n / n_i * sum_i - s(absw)
    b = np.where(n_zero > 0, b_num / (2 * np.maximum(n_zero, 1)), 0.0)
    return {"a": a, "b": b, "alpha": sum_i / n_i, "I": in_i, "J": in_j, "K": in_k}


def tws_split_weight(
    w: Any, *, granularity: str = "per_tensor", axis: int = 0, formula: str = "corrected"
) -> tuple[np.ndarray, np.ndarray]:
    """Splits latent ternary weights into two latent binary halves (Eqs. 5.6-5.9).

    Args:
      w: latent weights of a TWN-quantized matrix (any float dtype; computed in float64).
      granularity: ``"per_tensor"`` (layer-wise α, Transformer matrices) or ``"per_channel"``
        (one α, ``a``, ``b`` per index of ``axis``: row-wise word embeddings, ``axis=0``).
      axis: the channel axis for ``per_channel``.
      formula: ``"corrected"`` (default, exact) or ``"printed"`` (thesis Eq. 5.8 as printed).

    Returns:
      ``(w1, w2)`` in ``w``'s dtype with ``w1 + w2 = w`` and ``BWN(w1) + BWN(w2) = TWN(w)``.

    Raises:
      ValueError: as :func:`tws_coefficients`, or ``a`` outside ``(0, 1)`` (then the halves
        of a kept weight would disagree in sign and the split would not be exact).
    """
    dtype = np.asarray(w).dtype
    c = tws_coefficients(w, granularity=granularity, axis=axis, formula=formula)
    w = _as_float64(w, "tws_split_weight")
    a, b = c["a"], c["b"]
    if formula == "corrected" and not (np.all(a > 0) and np.all(a < 1)):
        raise ValueError(
            f"tws_split_weight: a must lie in (0, 1) for an exact split; got range "
            f"[{float(np.min(a)):.4g}, {float(np.max(a)):.4g}] (very skewed weights)."
        )
    w1 = np.where(c["I"], a * w, np.where(c["J"], b + w, b))
    w2 = np.where(c["I"], (1 - a) * w, np.where(c["J"], -b, -b + w))
    return w1.astype(dtype), w2.astype(dtype)
