"""Image normalisation (fixed or per-dataset statistics) and the standard CIFAR augmentation
(pad-4 random crop + horizontal flip).

Example:
    >>> import jax, numpy as np
    >>> images = np.zeros((2, 32, 32, 3), np.uint8)
    >>> out = jax.jit(augment_cifar)(jax.random.key(0), images)
    >>> out.shape, out.dtype
    ((2, 32, 32, 3), dtype('uint8'))
    >>> normalize_images(images).dtype
    dtype('float32')
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.data._cifar import CIFAR10_MEAN, CIFAR10_STD
from efficient_jax.data._info import DatasetInfo


def normalize_images(
    images: jax.typing.ArrayLike,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
) -> jax.Array | np.ndarray:
    """Maps images to float32 ``(x / 255 - mean) / std`` per channel (last axis).

    Integer images (uint8 pixels) are divided by 255 first; float images are taken to be in [0, 1]
    already. NumPy input gives a NumPy array (host preprocessing), JAX input a JAX array (jittable).

    Args:
      images: ``(..., C)`` pixels.
      mean: per-channel mean in [0, 1] units, length ``C``.
      std: per-channel standard deviation, length ``C``, all positive.

    Returns:
      float32 array of the same shape.

    Raises:
      ValueError: if the channel count differs from ``len(mean)``/``len(std)`` or a std is not
        positive.

    Example:
        >>> import numpy as np
        >>> x = np.full((1, 2, 2, 3), 255, np.uint8)
        >>> normalize_images(x, mean=(0.5,) * 3, std=(0.5,) * 3).max()
        np.float32(1.0)
    """
    xp = jnp if isinstance(images, jax.Array) else np
    x = xp.asarray(images)
    mean_a, std_a = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if mean_a.ndim != 1 or mean_a.shape != std_a.shape:
        raise ValueError(f"mean and std must be 1-D of equal length; got {mean!r} and {std!r}.")
    if x.ndim == 0 or x.shape[-1] != mean_a.shape[0]:
        raise ValueError(
            f"images of shape {tuple(x.shape)} must have {mean_a.shape[0]} channels on the last "
            f"axis to match mean {tuple(mean)}."
        )
    if not np.all(std_a > 0):
        raise ValueError(f"std must be positive; got {std!r}.")
    scale = 1.0 / 255.0 if xp.issubdtype(x.dtype, xp.integer) else 1.0
    bshape = (1,) * (x.ndim - 1) + (-1,)
    x = x.astype(xp.float32) * scale
    return (x - xp.asarray(mean_a).reshape(bshape)) / xp.asarray(std_a).reshape(bshape)


def normalize(images: jax.typing.ArrayLike, info: DatasetInfo) -> jax.Array | np.ndarray:
    """Normalises images with the statistics of their dataset: float32 ``(x / 255 - mean) / std``.

    Integer (uint8) pixels are divided by 255 first; float images are taken to be in [0, 1]. A
    dataset without statistics (``info.mean is None``) is only converted to float32 (and scaled
    to [0, 1] if integer). NumPy in gives NumPy out, JAX in gives JAX out (jittable).

    Args:
      images: ``(..., C)`` pixels with ``C == len(info.mean)`` channels.
      info: the images' dataset info.

    Returns:
      float32 array of the same shape.

    Raises:
      ValueError: if ``info`` is not a :class:`DatasetInfo` or the channel count does not match.

    Example:
        >>> import numpy as np
        >>> info = DatasetInfo("g", "image", (1, 1, 1), 2, (0.5,), (0.5,), eval_split="test")
        >>> normalize(np.array([[[[0], [255]]]], np.uint8), info).ravel().tolist()
        [-1.0, 1.0]
    """
    if not isinstance(info, DatasetInfo):
        raise ValueError(f"info must be a DatasetInfo; got {type(info).__name__}.")
    if info.mean is None:
        xp = jnp if isinstance(images, jax.Array) else np
        x = xp.asarray(images)
        scale = 1.0 / 255.0 if xp.issubdtype(x.dtype, xp.integer) else 1.0
        return x.astype(xp.float32) * scale
    return normalize_images(images, info.mean, info.std)


def augment_cifar(key: jax.Array, images: jax.typing.ArrayLike, *, padding: int = 4) -> jax.Array:
    """Random crop after zero padding plus random horizontal flip, independently per image.

    The torchvision recipe ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``. Apply it to
    pixels (uint8 or [0, 1] floats) *before* :func:`normalize_images` so that the padding is black,
    as in torchvision. Pure and jittable; the same key gives the same result.

    Args:
      key: a PRNG key (typed ``jax.random.key`` or raw ``PRNGKey``).
      images: ``(N, H, W, C)`` batch, any dtype (kept).
      padding: zero padding on each side before cropping back to ``H × W``.

    Returns:
      Augmented images, same shape and dtype.

    Raises:
      ValueError: if ``images`` is not 4-D or ``padding`` is negative.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.arange(2 * 32 * 32 * 3, dtype=jnp.float32).reshape(2, 32, 32, 3)
        >>> augment_cifar(jax.random.key(1), x).shape
        (2, 32, 32, 3)
    """
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C); got shape {images.shape}.")
    if padding < 0:
        raise ValueError(f"padding must be >= 0; got {padding}.")
    n, h, w, c = images.shape
    k_crop, k_flip = jax.random.split(key)
    offsets = jax.random.randint(k_crop, (n, 2), 0, 2 * padding + 1)
    flips = jax.random.bernoulli(k_flip, 0.5, (n,))
    pad = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    padded = jnp.pad(images, pad)

    def one(img: jax.Array, offset: jax.Array, flip: jax.Array) -> jax.Array:
        zero = jnp.zeros((), offset.dtype)
        crop = jax.lax.dynamic_slice(img, (offset[0], offset[1], zero), (h, w, c))
        return jax.lax.select(jnp.broadcast_to(flip, crop.shape), crop[:, ::-1], crop)

    return jax.vmap(one)(padded, offsets, flips)
