"""Import of akamaster/pytorch_resnet_cifar10 checkpoints (PyTorch layout, saved as npz).

The npz holds ``state_dict/module.<layer>.<param>`` arrays (the ``torch.save`` dictionary flattened,
``module.`` from ``nn.DataParallel``) and the scalar ``best_prec1``. Conversion rules:

============================  ===================================  =========================
PyTorch                       flax                                 layout
============================  ===================================  =========================
``conv1.weight`` (4-D)        ``params/conv1/kernel``              OIHW → HWIO
``linear.weight`` (2-D)       ``params/linear/kernel``             (out, in) → (in, out)
``bn1.weight`` / ``.bias``    ``params/bn1/scale`` / ``bias``
``bn1.running_mean`` / var    ``batch_stats/bn1/mean`` / ``var``
``layer2.0.conv1.weight``     ``params/layer2_0/conv1/kernel``     (block index joined by _)
============================  ===================================  =========================

``num_batches_tracked`` and ``best_prec1`` are ignored; any other unexpected or any missing key is
a ``ValueError`` naming it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from efficient_jax.models._resnet import ResNet

_IGNORED_SUFFIXES = ("num_batches_tracked", "best_prec1")
_PREFIXES = ("state_dict/", "module.")
_BLOCK_RE = re.compile(r"^layer(\d+)\.(\d+)\.")


def _strip(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def _flax_path(torch_name: str, ndim: int) -> tuple[str, ...]:
    """``layer1.0.bn1.running_var`` → ``("batch_stats", "layer1_0", "bn1", "var")``."""
    *modules, leaf = torch_name.split(".")
    path: list[str] = []
    for part in modules:
        if part.isdigit() and path:
            path[-1] = f"{path[-1]}_{part}"
        else:
            path.append(part)
    if leaf == "weight":
        return ("params", *path, "kernel" if ndim in (2, 4) else "scale")
    if leaf == "bias":
        return ("params", *path, "bias")
    if leaf in ("running_mean", "running_var"):
        return ("batch_stats", *path, leaf.removeprefix("running_"))
    return ("unknown", *path, leaf)


def _torch_name(flax_path: tuple[str, ...]) -> str:
    """Inverse of :func:`_flax_path` for error messages."""
    collection, *modules, leaf = flax_path
    parts = [re.sub(r"_(\d+)$", r".\1", m) for m in modules]
    leaf = {
        "kernel": "weight",
        "scale": "weight",
        "mean": "running_mean",
        "var": "running_var",
    }.get(leaf, leaf)
    return ".".join([*parts, leaf])


def _infer_depth(names: list[str]) -> int:
    blocks: dict[int, set[int]] = {}
    for name in names:
        if m := _BLOCK_RE.match(name):
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    counts = {stage: len(idx) for stage, idx in sorted(blocks.items())}
    if sorted(counts) != [1, 2, 3] or len(set(counts.values())) != 1:
        raise ValueError(
            "Cannot infer the ResNet depth: expected stages layer1..layer3 with the same number of "
            f"blocks, got blocks per stage {counts}. Pass depth= explicitly."
        )
    return 6 * counts[1] + 2


def convert_pytorch_resnet(
    state_dict: Mapping[str, np.ndarray], depth: int | None = None, num_classes: int | None = None
) -> tuple[ResNet, dict]:
    """Converts a PyTorch CIFAR-ResNet ``state_dict`` (name → array) into flax variables.

    Pure (no I/O): :func:`load_pytorch_resnet` reads the npz and calls this.

    Args:
      state_dict: PyTorch names (optionally prefixed by ``state_dict/`` and ``module.``) to arrays.
      depth: ResNet depth ``6n + 2``; inferred from the number of blocks per stage when ``None``.
      num_classes: inferred from ``linear.bias`` when ``None``.

    Returns:
      ``(model, variables)`` with ``variables = {"params": ..., "batch_stats": ...}``.

    Raises:
      ValueError: on missing, unexpected, wrongly shaped or non-finite entries.
    """
    arrays = {
        _strip(k): np.asarray(v) for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)
    }
    if depth is None:
        depth = _infer_depth(list(arrays))
    if num_classes is None:
        if "linear.bias" not in arrays:
            raise ValueError(f"Missing key 'linear.bias'; got keys {sorted(arrays)}.")
        num_classes = int(arrays["linear.bias"].shape[0])
    model = ResNet(depth=depth, num_classes=num_classes)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3), jnp.float32))
    expected = traverse_util.flatten_dict(jax.tree.map(lambda s: s.shape, dict(shapes)))

    converted: dict[tuple[str, ...], np.ndarray] = {}
    unexpected = []
    for name, value in arrays.items():
        path = _flax_path(name, value.ndim)
        if path not in expected:
            unexpected.append(name)
            continue
        if value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif value.ndim == 2:
            value = value.T  # (out, in) -> (in, out)
        if value.shape != expected[path]:
            raise ValueError(
                f"Shape mismatch for {name!r}: converted shape {value.shape}, the depth-{depth} "
                f"ResNet expects {expected[path]} at {'/'.join(path)}."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"Non-finite values (NaN/inf) in {name!r}.")
        converted[path] = value.astype(np.float32)
    missing = sorted(_torch_name(p) for p in expected if p not in converted)
    if unexpected or missing:
        raise ValueError(
            f"PyTorch ResNet-{depth} state_dict does not match: unexpected keys "
            f"{sorted(unexpected)}, missing keys {missing}."
        )
    variables = traverse_util.unflatten_dict({k: jnp.asarray(v) for k, v in converted.items()})
    return model, variables


def load_pytorch_resnet(
    npz_path: str | os.PathLike, depth: int | None = None
) -> tuple[ResNet, dict]:
    """Loads akamaster/pytorch_resnet_cifar10 weights saved as npz into a :class:`ResNet`.

    Args:
      npz_path: the ``.npz`` (``state_dict/module.*`` keys, PyTorch layouts; loaded without pickle).
      depth: ResNet depth; inferred from the number of blocks when ``None``.

    Returns:
      ``(model, variables)``; evaluate with ``model.apply(variables, x, train=False)`` on images
      normalised with mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

    Raises:
      FileNotFoundError: if ``npz_path`` does not exist.
      ValueError: on missing or unexpected keys (named in the message) or wrong shapes.

    Example:
        >>> model, variables = load_pytorch_resnet("resnet20-12fca82f.npz")  # doctest: +SKIP
        >>> model.depth  # doctest: +SKIP
        20

    References:
      https://github.com/akamaster/pytorch_resnet_cifar10
      (``pretrained_models/resnet20-12fca82f.th``).
    """
    if not os.path.isfile(npz_path):
        raise FileNotFoundError(
            f"No ResNet weights at {os.fspath(npz_path)!r}; the CIFAR-10 ResNet-20 npz ships in "
            "shared/data/weights/ (set EFFICIENT_JAX_DATA) or convert akamaster's .th with numpy."
        )
    with np.load(npz_path, allow_pickle=False) as data:
        state_dict = {k: data[k] for k in data.files}
    return convert_pytorch_resnet(state_dict, depth=depth)
