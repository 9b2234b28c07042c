"""Tests for the optional TFDS path."""

import sys

import numpy as np
import pytest

from efficient_jax.data import get_dataset, load_tfds


def test_missing_tfds_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "efficient_jax\[tfds\]"'):
        load_tfds("mnist", "train")
    with pytest.raises(ImportError, match="tfds"):
        get_dataset("tfds:mnist", "train")


def test_bad_limit():
    with pytest.raises(ValueError, match="limit"):
        load_tfds("mnist", "train", limit=0)


def test_mock_data_mnist():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=5):
        ds = load_tfds("mnist", "train")
    assert ds["image"].shape == (5, 28, 28, 1) and ds["image"].dtype == np.uint8
    assert ds["label"].shape == (5,) and ds["label"].dtype == np.int32


def test_mock_data_sst2_text_is_decoded():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=3):
        ds = get_dataset("tfds:glue/sst2", "validation")
    assert len(ds["sentence"]) == 3 and all(isinstance(s, str) for s in ds["sentence"])
    assert ds["label"].dtype == np.int32
