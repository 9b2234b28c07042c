"""Tests for normalize_images and augment_cifar."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from efficient_jax.data import CIFAR10_MEAN, CIFAR10_STD, augment_cifar, normalize_images


def _candidates(img: np.ndarray, padding: int) -> list[np.ndarray]:
    """Every crop (and its mirror) of the zero-padded image."""
    h, w, _ = img.shape
    padded = np.pad(img, ((padding, padding), (padding, padding), (0, 0)))
    out = []
    for dy in range(2 * padding + 1):
        for dx in range(2 * padding + 1):
            crop = padded[dy : dy + h, dx : dx + w]
            out += [crop, crop[:, ::-1]]
    return out


def test_jittable_deterministic_shape_dtype(key):
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    eager = augment_cifar(key, images)
    jitted = jax.jit(augment_cifar)(key, images)
    assert eager.shape == images.shape and eager.dtype == jnp.uint8
    np.testing.assert_array_equal(eager, jitted)
    np.testing.assert_array_equal(jitted, jax.jit(augment_cifar)(key, images))
    other = augment_cifar(jax.random.key(1), images)
    assert not np.array_equal(np.asarray(other), np.asarray(eager))
    floats = augment_cifar(key, images.astype(np.float32) / 255)
    assert floats.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(floats) * 255, np.asarray(eager), atol=1e-3)


def test_outputs_are_padded_crops_or_their_flips(key):
    images = np.random.default_rng(1).integers(1, 256, (6, 32, 32, 3), dtype=np.uint8)
    out = np.asarray(augment_cifar(key, images))
    for img, aug in zip(images, out):
        assert any(np.array_equal(aug, c) for c in _candidates(img, 4))
    assert not np.array_equal(out, images)  # something moved


def test_flip_only_and_per_image_independence():
    img = np.zeros((32, 32, 1), np.float32)
    img[5, 0, 0] = 1.0  # a single pixel on the left edge
    batch = np.broadcast_to(img, (64, 32, 32, 1))
    out = np.asarray(augment_cifar(jax.random.key(3), batch, padding=0))
    flipped = out[:, 5, 31, 0] == 1.0
    kept = out[:, 5, 0, 0] == 1.0
    assert np.all(flipped ^ kept)  # each image is either the original or its mirror
    assert 16 < flipped.sum() < 48  # independent per image, p = 0.5


def test_crop_shifts_with_zero_padding():
    ones = np.ones((64, 32, 32, 1), np.float32)
    out = np.asarray(augment_cifar(jax.random.key(4), ones))
    counts = out.reshape(64, -1).sum(axis=1)
    possible = {(32 - abs(dy)) * (32 - abs(dx)) for dy in range(-4, 5) for dx in range(-4, 5)}
    assert set(counts.tolist()) <= possible
    assert (counts < 1024).mean() > 0.5  # most crops include some zero padding
    assert out.min() == 0.0 and out.max() == 1.0


def test_augment_rejects_bad_input(key):
    with pytest.raises(ValueError, match="N, H, W, C"):
        augment_cifar(key, np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match="padding"):
        augment_cifar(key, np.zeros((1, 32, 32, 3)), padding=-1)


def test_normalize_numpy_and_jax():
    x = np.zeros((2, 4, 4, 3), np.uint8)
    x[1] = 255
    out = normalize_images(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    mean, std = np.array(CIFAR10_MEAN), np.array(CIFAR10_STD)
    np.testing.assert_allclose(out[0, 0, 0], -mean / std, rtol=1e-6)
    np.testing.assert_allclose(out[1, 0, 0], (1 - mean) / std, rtol=1e-6)
    jout = jax.jit(normalize_images)(jnp.asarray(x))
    assert isinstance(jout, jax.Array) and jout.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(jout), out, rtol=1e-6)
    # Float input is taken to be in [0, 1] already.
    np.testing.assert_allclose(normalize_images(x.astype(np.float32) / 255), out, rtol=1e-5)
    custom = normalize_images(x, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert custom.min() == -1.0 and custom.max() == 1.0


def test_normalize_rejects_bad_input():
    with pytest.raises(ValueError, match="channels"):
        normalize_images(np.zeros((2, 4, 4, 1), np.uint8))
    with pytest.raises(ValueError, match="equal length"):
        normalize_images(np.zeros((2, 4, 4, 3), np.uint8), mean=(0.5,) * 3, std=(1.0,))
    with pytest.raises(ValueError, match="positive"):
        normalize_images(np.zeros((1, 3), np.uint8), std=(0.2, 0.0, 0.2))
