"""Tests for the get_dataset dispatcher."""

import io

import numpy as np
import pytest
from PIL import Image

from efficient_jax.data import DATASET_NAMES, get_dataset


def test_digits():
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test", test_fraction=0.5)
    assert train["image"].shape == (1437, 8, 8, 1) and len(test["label"]) == 899
    with pytest.raises(ValueError, match="train"):
        get_dataset("digits", "validation")


def test_cifar10_and_glue_dispatch(tmp_path):
    d = tmp_path / "cifar10" / "test" / "ship"
    d.mkdir(parents=True)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 0, 255)).save(buf, format="JPEG")
    (d / "0.jpg").write_bytes(buf.getvalue())
    ds = get_dataset("cifar10", "test", tmp_path, cache_dir=tmp_path / "cache")
    assert ds["image"].shape == (1, 32, 32, 3) and ds["label"].tolist() == [8]

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "bert_uncased_vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nok\n")
    for task, header, row in [
        ("SST-2", "sentence\tlabel", "ok\t1"),
        ("RTE", "index\tsentence1\tsentence2\tlabel", "0\tok\tok\tentailment"),
    ]:
        (tmp_path / "glue" / task).mkdir(parents=True)
        (tmp_path / "glue" / task / "dev.tsv").write_text(f"{header}\n{row}\n")
    sst2 = get_dataset("sst2", "dev", tmp_path, max_length=4)
    np.testing.assert_array_equal(sst2["input_ids"], [[2, 4, 3, 0]])
    rte = get_dataset("glue/rte", "dev", tmp_path, max_length=6)
    np.testing.assert_array_equal(rte["token_type_ids"], [[0, 0, 0, 1, 1, 0]])
    assert rte["label"].tolist() == [0]


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as e:
        get_dataset("imagenet", "train")
    msg = str(e.value)
    for name in ("digits", "cifar10", "sst2", "glue/mnli", "tfds:<name>"):
        assert name in msg and name in DATASET_NAMES
    with pytest.raises(ValueError, match="valid"):
        get_dataset("glue/imdb", "dev")
    with pytest.raises(ValueError, match="valid"):
        get_dataset("tfds:", "train")
