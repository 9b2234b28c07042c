"""Tests for WordPieceTokenizer on a tiny vocabulary."""

import numpy as np
import pytest

from efficient_jax.data import DataNotFoundError, WordPieceTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "##s", "a", "b", "c", "é"]


@pytest.fixture
def tok(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return WordPieceTokenizer(path)


def test_special_ids(tok):
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id) == (0, 1, 2, 3)
    assert tok.vocab_size == len(VOCAB)


def test_single_sentences_padding_lowercase_wordpiece(tok):
    out = tok.encode(["Hello WORLDS", "zebra"], max_length=7)
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(v.dtype == np.int32 and v.shape == (2, 7) for v in out.values())
    np.testing.assert_array_equal(out["input_ids"], [[2, 4, 5, 6, 3, 0, 0], [2, 1, 3, 0, 0, 0, 0]])
    np.testing.assert_array_equal(
        out["attention_mask"], [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(out["token_type_ids"], np.zeros((2, 7)))
    assert tok.decode(out["input_ids"][0]) == "hello worlds"


def test_truncation(tok):
    out = tok.encode(["a b c a b c"], max_length=5)
    np.testing.assert_array_equal(out["input_ids"], [[2, 7, 8, 9, 3]])  # ends with [SEP]
    assert out["attention_mask"].sum() == 5


def test_pairs_token_types_and_truncation(tok):
    out = tok.encode(["a b", "a b c a b c"], ["c", "c"], max_length=8)
    np.testing.assert_array_equal(out["input_ids"][0], [2, 7, 8, 3, 9, 3, 0, 0])
    np.testing.assert_array_equal(out["token_type_ids"][0], [0, 0, 0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(out["attention_mask"][0], [1, 1, 1, 1, 1, 1, 0, 0])
    # Longest-first truncation trims the long first sentence and keeps [SEP] b [SEP].
    np.testing.assert_array_equal(out["input_ids"][1], [2, 7, 8, 9, 7, 3, 9, 3])
    np.testing.assert_array_equal(out["token_type_ids"][1], [0, 0, 0, 0, 0, 0, 1, 1])


def test_accents_stripped_and_single_string(tok):
    out = tok.encode("É", max_length=4)  # uncased BERT strips accents: é -> e (unknown here)
    np.testing.assert_array_equal(out["input_ids"], [[2, 1, 3, 0]])
    assert tok.encode([], max_length=4)["input_ids"].shape == (0, 4)


def test_errors(tok, tmp_path):
    with pytest.raises(ValueError, match="differ in length"):
        tok.encode(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="max_length"):
        tok.encode(["a"], ["b"], max_length=2)
    with pytest.raises(ValueError, match="max_length"):
        tok.encode(["a"], max_length=1)
    bad = tmp_path / "bad_vocab.txt"
    bad.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match=r"\[CLS\]"):
        WordPieceTokenizer(bad)
    with pytest.raises(DataNotFoundError, match="EFFICIENT_JAX_DATA"):
        WordPieceTokenizer(tmp_path / "nope.txt")
