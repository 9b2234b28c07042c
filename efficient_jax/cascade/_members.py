"""Cascade members from Flax models: cached logits, FLOPs, resolution wrappers, online cascades.

A member is any ``apply_fn(variables, x, train=False) -> logits``. :func:`compute_logits` runs it
once over a split (the logits are then cached by the caller; the cascade math never re-runs a
model), :func:`member_flops` counts its per-example FLOPs with :func:`efficient_jax.cost.macs`, and
:func:`at_resolution` turns one model into a member that first resizes its input, which is all a
**self-cascade** (Sec. 5.7: the same model at a low, then a high resolution) needs. Compressed
members (e.g. int4 weights from :func:`efficient_jax.quant.quantize_weights`) are the same
``apply_fn`` with other variables.

:func:`online_cascade` builds the batch-1 inference program (``lax.cond`` per stage, so later
models really are skipped) whose wall-clock time :func:`efficient_jax.cost.measure_latency`
measures.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import MLP
    >>> model = MLP(features=(8,), num_classes=3)
    >>> x = jnp.ones((5, 4, 4, 1))
    >>> v = model.init(jax.random.key(0), x)
    >>> compute_logits(model.apply, v, x, batch_size=2).shape
    (5, 3)
    >>> member_flops(model.apply, v, x[:1])
    304
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from efficient_jax import cost
from efficient_jax.cascade._cascade import check_thresholds, confidence

ApplyFn = Callable[..., jax.Array]


def compute_logits(
    apply_fn: ApplyFn,
    variables: Any,
    inputs: ArrayLike,
    *,
    batch_size: int = 512,
    preprocess: Callable[[jax.Array], jax.Array] | None = None,
) -> np.ndarray:
    """Logits ``[N, C]`` (float32, on host) of ``apply_fn(variables, x, train=False)`` over inputs.

    Batches are padded to ``batch_size`` so the jitted call compiles once.

    Args:
      apply_fn: the model's apply function.
      variables: its variables.
      inputs: ``[N, ...]`` host or device array.
      batch_size: examples per call.
      preprocess: optional on-device function applied to each batch first (e.g. normalisation).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    inputs = np.asarray(inputs)
    n = inputs.shape[0]
    if n == 0:
        raise ValueError("inputs are empty: need at least one example.")
    bs = min(batch_size, n)

    @jax.jit
    def run(v, x):
        if preprocess is not None:
            x = preprocess(x)
        return apply_fn(v, x, train=False).astype(jnp.float32)

    out = []
    for start in range(0, n, bs):
        chunk = inputs[start : start + bs]
        pad = bs - chunk.shape[0]
        if pad:
            chunk = np.concatenate([chunk, np.zeros((pad, *chunk.shape[1:]), chunk.dtype)])
        out.append(np.asarray(run(variables, chunk))[: bs - pad])
    return np.concatenate(out)


def member_flops(apply_fn: ApplyFn, variables: Any, example: ArrayLike) -> int:
    """FLOPs (2 × MACs of matmuls and convolutions) of one example through ``apply_fn``.

    Args:
      example: a batch of exactly one input, ``[1, ...]``.
    """
    example = jnp.asarray(example)
    if example.ndim < 1 or example.shape[0] != 1:
        raise ValueError(f"example must be a batch of one, [1, ...]; got shape {example.shape}.")
    return cost.macs(lambda v, x: apply_fn(v, x, train=False), variables, example).flops


def resize_images(images: ArrayLike, size: int | tuple[int, int]) -> jax.Array:
    """Bilinear resize of NHWC images to ``size`` (antialiased when shrinking)."""
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be NHWC; got shape {images.shape}.")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive; got {size}.")
    if (h, w) == images.shape[1:3]:
        return images
    out = jax.image.resize(
        images.astype(jnp.float32), (images.shape[0], h, w, images.shape[3]), "bilinear"
    )
    return out.astype(images.dtype) if jnp.issubdtype(images.dtype, jnp.floating) else out


def at_resolution(apply_fn: ApplyFn, size: int | tuple[int, int]) -> ApplyFn:
    """``apply_fn`` that first resizes its NHWC input to ``size`` (a self-cascade member)."""

    def apply(variables, x, *args, **kwargs):
        return apply_fn(variables, resize_images(x, size), *args, **kwargs)

    return apply


def online_cascade(
    apply_fns: Sequence[ApplyFn],
    thresholds: ArrayLike,
    *,
    metric: str = "max_prob",
    combine: str = "logits",
) -> Callable[[Sequence[Any], jax.Array], tuple[jax.Array, jax.Array]]:
    """The inference program of a cascade: ``fn(variables_list, x) -> (scores, exit_stage)``.

    Stage k runs only if the previous stage did not exit (``lax.cond``), so its cost is really
    skipped; the running mean of the logits is used as in Algorithm 4. A batch exits at stage k
    only when *every* example in it is confident, so for batch 1 this is the exact per-example
    cascade and its wall-clock time is the cascade's latency.

    Args:
      apply_fns: member apply functions, in cascade order.
      thresholds: ``[M-1]`` in ``[0, 1]`` or ``inf`` (static: baked into the program).
      metric: confidence metric.
      combine: ``"logits"`` (running mean, Algorithm 4) or ``"last"`` (each stage's own logits).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.models import MLP
        >>> m = MLP(features=(4,), num_classes=2)
        >>> x = jnp.ones((1, 3))
        >>> vs = [m.init(jax.random.key(i), x) for i in range(2)]
        >>> fn = jax.jit(online_cascade([m.apply, m.apply], [0.0]))
        >>> int(fn(vs, x)[1])
        0
    """
    if len(apply_fns) < 1:
        raise ValueError("online_cascade needs at least one model.")
    t = np.asarray(check_thresholds(thresholds, len(apply_fns)))
    if combine not in ("logits", "last"):
        raise ValueError(f"online_cascade combines 'logits' or 'last'; got {combine!r}.")

    def run(variables_list, x):
        if len(variables_list) != len(apply_fns):
            raise ValueError(
                f"Got {len(variables_list)} variable sets for {len(apply_fns)} models."
            )

        def stage(k, total):
            logits = apply_fns[k](variables_list[k], x, train=False).astype(jnp.float32)
            total = total + logits
            mean = logits if combine == "last" else total / (k + 1)
            if k == len(apply_fns) - 1:
                return mean, jnp.int32(k)
            done = jnp.all(confidence(mean, metric) >= t[k])
            return jax.lax.cond(
                done,
                lambda m, _tot: (m, jnp.int32(k)),
                lambda _m, tot: stage(k + 1, tot),
                mean,
                total,
            )

        return stage(0, 0.0)

    return run
