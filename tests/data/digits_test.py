"""Tests for the scikit-learn digits loader."""

import numpy as np
import pytest

from efficient_jax.data import load_digits


def test_shapes_dtypes_range():
    ds = load_digits()
    tr, te = ds["train"], ds["test"]
    assert tr["image"].shape == (1437, 8, 8, 1) and te["image"].shape == (360, 8, 8, 1)
    assert tr["image"].dtype == np.float32 and tr["label"].dtype == np.int32
    assert tr["image"].min() == 0.0 and tr["image"].max() == 1.0
    assert set(np.unique(te["label"])) == set(range(10))


def test_stratified():
    ds = load_digits(test_fraction=0.25)
    tr = np.bincount(ds["train"]["label"]) / len(ds["train"]["label"])
    te = np.bincount(ds["test"]["label"]) / len(ds["test"]["label"])
    np.testing.assert_allclose(tr, te, atol=0.01)


def test_deterministic_per_seed():
    a, b, c = load_digits(seed=3), load_digits(seed=3), load_digits(seed=4)
    np.testing.assert_array_equal(a["test"]["image"], b["test"]["image"])
    np.testing.assert_array_equal(a["train"]["label"], b["train"]["label"])
    assert not np.array_equal(a["test"]["image"], c["test"]["image"])


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_bad_test_fraction(bad):
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=bad)
