"""Tests for the CIFAR-10 JPEG folder / tar loader and its cache (tiny Pillow-made fixtures)."""

import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from efficient_jax.data import CIFAR10_CLASSES, DataNotFoundError, _cifar, load_cifar10

# (class, solid RGB colour) per image; sorted member order puts airplane (label 0) before cat (3).
_IMAGES = {
    "cat": [(200, 40, 40), (40, 200, 40), (40, 40, 200)],
    "airplane": [(10, 10, 10), (120, 120, 120), (250, 250, 250)],
}
_EXPECTED_LABELS = [0, 0, 0, 3, 3, 3]
_EXPECTED_COLOURS = _IMAGES["airplane"] + _IMAGES["cat"]


def _jpeg(colour, size=(32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _make_folder(root, split="test"):
    for cls, colours in _IMAGES.items():
        d = root / "cifar10" / split / cls
        d.mkdir(parents=True)
        for i, c in enumerate(colours):
            (d / f"{i:04d}.jpg").write_bytes(_jpeg(c))
        (d / "._0000.jpg").write_bytes(b"macOS resource fork, not a JPEG")
    (root / "cifar10" / split / "README.txt").write_text("not an image")


def _make_tar(root, split="test", top="test/"):
    (root / "cifar10").mkdir(parents=True, exist_ok=True)
    path = root / "cifar10" / f"cifar10_{split}_jpeg.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        # Add in reverse order: the loader must sort by member path itself.
        for cls, colours in sorted(_IMAGES.items(), reverse=True):
            for i, c in reversed(list(enumerate(colours))):
                data = _jpeg(c)
                info = tarfile.TarInfo(f"{top}{cls}/{i:04d}.jpg")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _check(ds, n=6):
    assert ds["image"].shape == (n, 32, 32, 3) and ds["image"].dtype == np.uint8
    assert ds["label"].dtype == np.int32
    assert ds["label"].tolist() == _EXPECTED_LABELS[:n]
    means = ds["image"].reshape(n, -1, 3).mean(axis=1)
    np.testing.assert_allclose(means, np.array(_EXPECTED_COLOURS[:n], float), atol=3)


def test_folder(tmp_path):
    _make_folder(tmp_path / "data")
    _check(load_cifar10("test", tmp_path / "data", cache_dir=tmp_path / "cache"))


@pytest.mark.parametrize("top", ["test/", "", "./cifar10/test/"])
def test_tar(tmp_path, top):
    _make_tar(tmp_path / "data", top=top)
    _check(load_cifar10("test", tmp_path / "data", cache_dir=tmp_path / "cache"))


def test_class_names_are_cifar_order():
    assert CIFAR10_CLASSES[0] == "airplane" and CIFAR10_CLASSES[3] == "cat"
    assert len(CIFAR10_CLASSES) == 10


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    tar = _make_tar(tmp_path / "data")
    cache = tmp_path / "cache"
    first = load_cifar10("test", tmp_path / "data", cache_dir=cache)
    files = os.listdir(cache)
    assert len(files) == 1 and files[0].endswith(".npz")  # no temp file left behind

    def fail(*args, **kwargs):
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr(_cifar, "_decode_images", fail)
    second = load_cifar10("test", tmp_path / "data", cache_dir=cache)
    np.testing.assert_array_equal(first["image"], second["image"])
    np.testing.assert_array_equal(first["label"], second["label"])
    limited = load_cifar10("test", tmp_path / "data", cache_dir=cache, limit=4)
    _check(limited, n=4)

    # A changed source (new mtime) is a different cache key: it must decode again.
    st = tar.stat()
    os.utime(tar, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_cifar10("test", tmp_path / "data", cache_dir=cache)


def test_cache_env_default(tmp_path, monkeypatch):
    _make_folder(tmp_path / "data")
    monkeypatch.setenv("EFFICIENT_JAX_CACHE", str(tmp_path / "envcache"))
    load_cifar10("test", tmp_path / "data")
    assert len(list((tmp_path / "envcache").glob("cifar10_test_*.npz"))) == 1


def test_corrupt_cache_is_ignored(tmp_path):
    _make_folder(tmp_path / "data")
    cache = tmp_path / "cache"
    load_cifar10("test", tmp_path / "data", cache_dir=cache)
    (npz,) = cache.glob("*.npz")
    npz.write_bytes(b"garbage")
    _check(load_cifar10("test", tmp_path / "data", cache_dir=cache))


def test_limit_without_cache_decodes_only_needed(tmp_path):
    _make_tar(tmp_path / "data")
    ds = load_cifar10("test", tmp_path / "data", cache_dir=tmp_path / "cache", limit=2)
    _check(ds, n=2)
    assert not (tmp_path / "cache").exists()  # partial decodes are not cached
    ds = load_cifar10("test", tmp_path / "data", cache_dir=tmp_path / "cache", limit=100)
    _check(ds)  # at most `limit`


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="valid"):
        load_cifar10("validation", tmp_path)


@pytest.mark.parametrize("limit", [0, -3, 1.5])
def test_bad_limit(tmp_path, limit):
    with pytest.raises(ValueError, match="limit"):
        load_cifar10("test", tmp_path, limit=limit)


def test_missing_data(tmp_path):
    with pytest.raises(DataNotFoundError) as e:
        load_cifar10("train", tmp_path, cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert str(tmp_path / "cifar10" / "cifar10_train_jpeg.tar.gz") in msg
    assert str(tmp_path / "cifar10" / "train") in msg and "EFFICIENT_JAX_DATA" in msg


def test_unknown_class_and_bad_size(tmp_path):
    d = tmp_path / "a" / "cifar10" / "test" / "unicorn"
    d.mkdir(parents=True)
    (d / "0.jpg").write_bytes(_jpeg((1, 2, 3)))
    with pytest.raises(ValueError, match="unicorn"):
        load_cifar10("test", tmp_path / "a", cache_dir=tmp_path / "cache")
    d = tmp_path / "b" / "cifar10" / "test" / "cat"
    d.mkdir(parents=True)
    (d / "0.jpg").write_bytes(_jpeg((1, 2, 3), size=(16, 16)))
    with pytest.raises(ValueError, match="32"):
        load_cifar10("test", tmp_path / "b", cache_dir=tmp_path / "cache")


@pytest.mark.data
def test_real_test_tar(data_dir, tmp_path):
    small = load_cifar10("test", data_dir, cache_dir=tmp_path, limit=16)
    assert small["image"].shape == (16, 32, 32, 3) and small["label"].tolist() == [0] * 16
    # The full test set decodes in about a second: check it against the README.
    full = load_cifar10("test", data_dir, cache_dir=tmp_path)
    assert full["image"].shape == (10000, 32, 32, 3)
    assert np.bincount(full["label"]).tolist() == [1000] * 10
    np.testing.assert_allclose(
        full["image"].reshape(-1, 3).mean(axis=0), (125.99, 123.69, 114.85), atol=0.05
    )
    np.testing.assert_array_equal(full["image"][:16], small["image"])
