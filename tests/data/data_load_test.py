"""Tests for the one data entry point: registry, data.load, Dataset/DatasetInfo, MNIST, splits,
per-dataset normalisation and the wrap-around batches."""

import gzip

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from efficient_jax import core, data
from efficient_jax.trainers import _pipeline


# ------------------------------------------------------------------------------------ registry
def test_registry_lists_builtins():
    names = data.available_datasets()
    for name in ("digits", "mnist", "cifar10", "sst2", "gaussian_mixture"):
        assert name in names
    assert {f"glue/{t}" for t in data.GLUE_TASKS} <= set(names)
    assert isinstance(data.DATASETS, core.Registry) and data.DATASETS.names() == names
    assert "tfds:<name>" in data.DATASET_NAMES


def test_unknown_name_split_and_option():
    with pytest.raises(ValueError, match="valid") as e:
        data.load("imagenet")
    assert "gaussian_mixture" in str(e.value) and "tfds:<name>" in str(e.value)
    with pytest.raises(ValueError, match="valid"):
        data.load("tfds:")
    ds = data.load("digits")
    with pytest.raises(ValueError, match=r"\['train', 'test'\]"):
        ds["validation"]
    with pytest.raises(ValueError, match="test_fraction"):
        data.load("digits", colour="red")
    with pytest.raises(ValueError, match="train"):
        data.get_dataset("digits", "validation")


def test_dataset_options():
    assert data.dataset_options("gaussian_mixture")[:3] == ("num_train", "num_test", "seed")
    assert data.dataset_options("mnist") == ("seed", "num_validation", "num_test")
    assert data.dataset_options("glue/rte") == ("vocab_path", "max_length", "limit")
    assert data.dataset_options("tfds:mnist") == ("limit",)


# --------------------------------------------------------------------------- Dataset and info
def test_digits_dataset_and_info():
    ds = data.load(" Digits ", seed=1)
    info = ds.info
    assert (info.name, info.kind, info.input_shape, info.num_classes) == (
        "digits",
        "image",
        (8, 8, 1),
        10,
    )
    assert info.mean is None and info.std is None
    assert (info.train_split, info.eval_split) == ("train", "test")
    assert ds.train_data["image"].shape == (1437, 8, 8, 1)
    np.testing.assert_array_equal(ds.eval_data["label"], data.load_digits(seed=1)["test"]["label"])
    np.testing.assert_array_equal(
        data.get_dataset("digits", "test", seed=1)["image"], ds["test"]["image"]
    )


def _old_gaussian_mixture(num_train, num_test, *, seed, num_classes, dim, clusters_per_class,
                          spread, label_noise):  # fmt: skip
    """The generator as it was in trainers/_cascade_pool.py (reference for identical numerics)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, (num_classes * clusters_per_class, dim)).astype(np.float32)

    def draw(n):
        cluster = rng.integers(0, len(centres), n)
        x = centres[cluster] + rng.normal(0.0, 1.0, (n, dim)).astype(np.float32)
        y = (cluster // clusters_per_class).astype(np.int32)
        noisy = rng.random(n) < label_noise
        y[noisy] = rng.integers(0, num_classes, int(noisy.sum()))
        return {"image": x.astype(np.float32), "label": y}

    return draw(num_train), draw(num_test)


def test_gaussian_mixture_dataset_matches_old_generator():
    kw = dict(num_classes=5, dim=6, clusters_per_class=3, spread=0.7, label_noise=0.2)
    ds = data.load("gaussian_mixture", num_train=50, num_test=30, seed=4, **kw)
    old_train, old_test = _old_gaussian_mixture(50, 30, seed=4, **kw)
    for new, old in ((ds["train"], old_train), (ds["test"], old_test)):
        for k in ("image", "label"):
            np.testing.assert_array_equal(new[k], old[k])
            assert new[k].dtype == old[k].dtype
    info = ds.info
    assert (info.name, info.kind, info.input_shape, info.num_classes) == (
        "gaussian_mixture",
        "vector",
        (6,),
        5,
    )
    assert info.mean is None and info.eval_split == "test"
    with pytest.raises(ValueError, match="label_noise"):
        data.make_gaussian_mixture(4, 4, label_noise=1.5)


def test_dataset_checks_its_info():
    info = data.DatasetInfo("toy", "vector", (1,), 2, None, None, eval_split="validation")
    with pytest.raises(ValueError, match="eval_split"):
        data.Dataset({"train": {"x": np.zeros(2)}}, info)
    with pytest.raises(ValueError, match="kind"):
        data.DatasetInfo("toy", "audio", (1,), 2, None, None, eval_split="test")
    with pytest.raises(ValueError, match="mean and std"):
        data.DatasetInfo("toy", "image", (1,), 2, (0.5,), None, eval_split="test")


def test_lazy_splits_load_once_and_membership_does_not_load():
    calls = []
    splits = data.LazySplits({"train": lambda: calls.append("t") or {"x": np.arange(3)}})
    info = data.DatasetInfo("toy", "vector", (1,), 2, None, None, eval_split="train")
    ds = data.Dataset(splits, info)
    assert calls == [] and "train" in ds.splits
    assert ds["train"]["x"].tolist() == [0, 1, 2] and ds.train_data is ds["train"]
    assert calls == ["t"]


# ------------------------------------------------------------------------------------- MNIST
def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    """10,000 fake 28×28 images whose first two pixels encode their index."""
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    idx = np.arange(10_000)
    images = np.zeros((10_000, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1] = idx // 256, idx % 256
    _write_idx(root / "mnist" / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(root / "mnist" / "t10k-labels-idx1-ubyte.gz", idx % 10)
    return root


def _ids(split):
    return split["image"][:, 0, 0, 0].astype(int) * 256 + split["image"][:, 0, 1, 0]


def test_mnist_split_sizes_disjoint_and_deterministic(fake_mnist):
    ds = data.load("mnist", data_dir=fake_mnist, seed=3)
    sizes = {k: len(v["label"]) for k, v in ds.splits.items()}
    assert sizes == {"train": 8000, "validation": 1000, "test": 1000}
    ids = {k: _ids(v) for k, v in ds.splits.items()}
    assert sorted(np.concatenate(list(ids.values())).tolist()) == list(range(10_000))
    for split in ds.splits.values():
        assert split["image"].dtype == np.uint8 and split["image"].shape[1:] == (28, 28, 1)
        np.testing.assert_array_equal(split["label"], _ids(split) % 10)
    again, other = (data.load_mnist(fake_mnist, seed=s) for s in (3, 4))
    np.testing.assert_array_equal(_ids(again["test"]), ids["test"])
    assert not np.array_equal(_ids(other["test"]), ids["test"])
    perm = np.random.default_rng(3).permutation(10_000)  # the documented split
    np.testing.assert_array_equal(ids["validation"], perm[8000:9000])
    info = ds.info
    assert (info.input_shape, info.num_classes, info.eval_split) == ((28, 28, 1), 10, "test")
    assert (info.mean, info.std) == ((0.1307,), (0.3081,))
    small = data.load_mnist(fake_mnist, num_validation=0, num_test=2000)
    assert len(small["train"]["label"]) == 8000 and len(small["validation"]["label"]) == 0
    with pytest.raises(ValueError, match="num_validation"):
        data.load_mnist(fake_mnist, num_validation=5000, num_test=5000)


def test_mnist_missing_files_and_bad_idx(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="MNIST test images"):
        data.load("mnist", data_dir=tmp_path)
    bad = tmp_path / "bad.idx"
    bad.write_bytes(bytes([0, 0, 13, 1, 0, 0, 0, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="IDX"):
        data.read_idx(bad)


def test_real_mnist(data_dir):
    if not (data_dir / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("MNIST IDX files not found under the data folder")
    ds = data.load("mnist", data_dir=data_dir)
    labels = np.concatenate([v["label"] for v in ds.splits.values()])
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds["train"]["image"].max() == 255


# ----------------------------------------------------------------------------- normalisation
def _cifar_info():
    return data.DatasetInfo(
        "cifar10", "image", (32, 32, 3), 10, data.CIFAR10_MEAN, data.CIFAR10_STD, eval_split="test"
    )


def test_cifar10_normalisation_unchanged(tmp_path):
    (tmp_path / "cifar10").mkdir()
    info = data.load("cifar10", data_dir=tmp_path).info
    assert info == _cifar_info()
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    ref = data.normalize_images(x, data.CIFAR10_MEAN, data.CIFAR10_STD)
    np.testing.assert_array_equal(data.normalize(x, info), ref)
    ref_jax = data.normalize_images(jnp.asarray(x), data.CIFAR10_MEAN, data.CIFAR10_STD)
    np.testing.assert_array_equal(data.normalize(jnp.asarray(x), info), ref_jax)
    config = ml_collections.ConfigDict({"augment": True})
    pre = _pipeline.make_preprocess(config, info)
    np.testing.assert_array_equal(pre({"image": jnp.asarray(x)}, None)["image"], ref_jax)
    key = jax.random.key(3)
    aug = data.normalize_images(data.augment_cifar(key, jnp.asarray(x)), info.mean, info.std)
    np.testing.assert_array_equal(pre({"image": jnp.asarray(x)}, key)["image"], aug)


def test_per_dataset_normalisation():
    x = np.full((2, 28, 28, 1), 255, np.uint8)
    mnist = data.DatasetInfo("mnist", "image", (28, 28, 1), 10, (0.1307,), (0.3081,), "test")
    out = _pipeline.make_preprocess(ml_collections.ConfigDict(), mnist)({"image": x}, None)
    np.testing.assert_allclose(out["image"], (1.0 - 0.1307) / 0.3081, rtol=1e-6)
    plain = data.DatasetInfo("p", "image", (28, 28, 1), 10, None, None, eval_split="test")
    np.testing.assert_array_equal(data.normalize(x, plain), np.ones_like(x, np.float32))
    floats = {"image": np.zeros((2, 8, 8, 1), np.float32)}
    assert _pipeline.make_preprocess(ml_collections.ConfigDict(), plain)(floats, None) is floats
    with pytest.raises(ValueError, match="DatasetInfo"):
        data.normalize(x, None)


# -------------------------------------------------------------------------- splits, batches
def test_random_split():
    arrays = {"x": np.arange(20), "y": np.arange(20) * 2}
    a, b, c = data.random_split(arrays, (5, None, 3), seed=1)
    perm = np.random.default_rng(1).permutation(20)
    np.testing.assert_array_equal(a["x"], perm[:5])
    np.testing.assert_array_equal(b["y"], 2 * perm[5:17])
    np.testing.assert_array_equal(c["x"], perm[17:])
    (s,) = data.random_split(arrays, (6,), seed=1, sort=True)
    np.testing.assert_array_equal(s["x"], np.sort(perm[:6]))
    for bad in ((21,), (None, None), (-1, 3)):
        with pytest.raises(ValueError, match="sizes"):
            data.random_split(arrays, bad, seed=0)


def _reference_wrap_batch(split, step, batch_size, seed):
    """The wrap-around batcher of trainers/darts.py (before it moved onto data.batch_at)."""
    n = len(split["label"])
    epoch, pos = divmod(step * batch_size, n)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    idx = perm[np.arange(pos, pos + batch_size) % n]
    return {"image": split["image"][idx], "label": split["label"][idx]}


@pytest.mark.parametrize("n,batch_size", [(50, 8), (48, 8), (5, 7)])
def test_batch_at_wrap_matches_reference(n, batch_size):
    split = {"image": np.arange(n) * 10, "label": np.arange(n)}
    for step in range(0, 3 * n // batch_size + 3):
        got = data.batch_at(split, step, batch_size, seed=2, remainder="wrap")
        ref = _reference_wrap_batch(split, step, batch_size, 2)
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k])
    with pytest.raises(ValueError, match="remainder"):
        data.batch_at(split, 0, 2, seed=0, remainder="pad")
