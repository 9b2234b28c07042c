"""BatchNorm statistics re-estimated on a few images after pruning.

Pruning shifts every downstream activation distribution, while the BatchNorm running statistics
still describe the unpruned teacher. Re-estimating them on a handful of images is a standard,
training-free repair (e.g. "adaptive BN" in Li et al., "EagleEye", ECCV 2020). The public
cross-distillation code does a version of it implicitly: its few-shot forward passes run the
student in training mode and update the running statistics (Bai 2021, Ch. 3; spec 001 §2.2).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from efficient_jax.types import PyTree


def _set_path(tree: dict, path: tuple[str, ...], value: dict) -> dict:
    if not path:
        return {**tree, **value}
    head, *rest = path
    if head not in tree:
        raise ValueError(f"batch_stats has no entry {'/'.join(path)} for a BatchNorm of the model.")
    return {**tree, head: _set_path(dict(tree[head]), tuple(rest), value)}


def reestimate_batch_stats(
    model: nn.Module, variables: PyTree, images: jax.Array, **apply_kwargs: Any
) -> PyTree:
    """``variables`` with every BatchNorm's running mean/variance set to the statistics of
    ``images``, in one training-mode pass (each BatchNorm normalises with the batch statistics,
    so later layers see what they will see at inference with the new statistics).

    Args:
      model: a Linen model whose ``__call__`` takes ``train=True`` (BatchNorm in training mode).
      variables: its variables, with a ``batch_stats`` collection.
      images: the batch to estimate from (e.g. the few-shot images).
      **apply_kwargs: extra keyword arguments for ``model.apply``.

    Returns:
      New variables (the input is not modified); ``params`` are shared.

    Raises:
      ValueError: if ``variables`` has no ``batch_stats``.

    Example:
        >>> import jax, jax.numpy as jnp, flax.linen as nn
        >>> class Net(nn.Module):
        ...     @nn.compact
        ...     def __call__(self, x, train=False):
        ...         return nn.BatchNorm(use_running_average=not train)(nn.Dense(4)(x))
        >>> x = jax.random.normal(jax.random.key(0), (16, 3))
        >>> v = Net().init(jax.random.key(1), x)
        >>> v2 = reestimate_batch_stats(Net(), v, x)
        >>> bool(jnp.allclose(Net().apply(v2, x), Net().apply(v, x, train=True,
        ...      mutable=["batch_stats"])[0], atol=1e-5))
        True
    """
    if "batch_stats" not in variables:
        raise ValueError(
            f"reestimate_batch_stats needs variables with batch_stats; got {sorted(variables)}."
        )
    found: dict[tuple[str, ...], dict[str, jax.Array]] = {}

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(module, nn.BatchNorm):
            x = jnp.asarray(args[0], jnp.float32)
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axis=axes)
            var = jnp.maximum(jnp.mean(x * x, axis=axes) - mean * mean, 0.0)
            found[tuple(str(p) for p in module.scope.path)] = {"mean": mean, "var": var}
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(interceptor):
        model.apply(variables, images, train=True, mutable=["batch_stats"], **apply_kwargs)
    stats = dict(variables["batch_stats"])  # _set_path copies each dict it changes
    for path, value in found.items():
        stats = _set_path(stats, path, value)
    return {**variables, "batch_stats": stats}
