"""BERT WordPiece tokenisation (uncased) from a ``vocab.txt``, via the Rust ``tokenizers`` library.

Example:
    >>> import pathlib, tempfile
    >>> vocab = pathlib.Path(tempfile.mkdtemp()) / "vocab.txt"
    >>> _ = vocab.write_text("[PAD]\\n[UNK]\\n[CLS]\\n[SEP]\\nhello\\nworld\\n")
    >>> tok = WordPieceTokenizer(vocab)
    >>> tok.encode(["Hello world"], max_length=6)["input_ids"].tolist()
    [[2, 4, 5, 3, 0, 0]]
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from efficient_jax.data._paths import require_file

_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


class WordPieceTokenizer:
    """BERT-style tokenizer: BERT normaliser (lower-casing, accent stripping), BERT pre-tokenizer,
    WordPiece with ``##`` continuation, ``[CLS] a [SEP] (b [SEP])`` post-processing.

    Args:
      vocab_path: a BERT ``vocab.txt`` (one token per line; the line number is the id). It must
        contain ``[PAD]``, ``[UNK]``, ``[CLS]`` and ``[SEP]``.
      lowercase: lower-case and strip accents (``True`` for uncased BERT checkpoints).

    Raises:
      DataNotFoundError: if ``vocab_path`` does not exist.
      ValueError: if a special token is missing from the vocabulary.

    Example:
        >>> tok = WordPieceTokenizer("weights/bert_uncased_vocab.txt")  # doctest: +SKIP
        >>> tok.encode(["a b"], ["c"], max_length=8)["token_type_ids"]  # doctest: +SKIP
        array([[0, 0, 0, 0, 1, 1, 0, 0]], dtype=int32)
    """

    def __init__(self, vocab_path: str | os.PathLike, *, lowercase: bool = True):
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

        path = require_file(
            vocab_path,
            "WordPiece vocabulary",
            "Use the bert-base-uncased vocab.txt (<data_dir>/weights/bert_uncased_vocab.txt).",
        )
        vocab = models.WordPiece.read_file(str(path))
        missing = [t for t in _SPECIALS if t not in vocab]
        if missing:
            raise ValueError(f"Vocabulary {path} lacks the special tokens {missing}.")
        self.vocab_path = path
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (vocab[t] for t in _SPECIALS)
        self.vocab_size = len(vocab)
        tk = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        tk.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
        )
        tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tk.post_processor = processors.BertProcessing(
            ("[SEP]", self.sep_id), ("[CLS]", self.cls_id)
        )
        tk.decoder = decoders.WordPiece(prefix="##")
        # Registered as special: never split, and dropped by decode(skip_special_tokens=True).
        tk.add_special_tokens([t for t in (*_SPECIALS, "[MASK]") if t in vocab])
        self._tk = tk

    def encode(
        self,
        sentences_a: Sequence[str] | str,
        sentences_b: Sequence[str] | str | None = None,
        max_length: int = 128,
    ) -> dict[str, np.ndarray]:
        """Tokenises (pairs of) sentences, truncating (longest first) and padding to ``max_length``.

        Args:
          sentences_a: first sentences (a single string is treated as a list of one).
          sentences_b: optional second sentences, same length as ``sentences_a``.
          max_length: output length ``L``, including ``[CLS]``/``[SEP]``.

        Returns:
          ``input_ids``, ``attention_mask`` (1 real, 0 pad) and ``token_type_ids`` (0 for the first
          segment, 1 for the second), each int32 ``(N, L)``.

        Raises:
          ValueError: if the lists differ in length or ``max_length`` cannot hold the special
            tokens.
        """
        a = [sentences_a] if isinstance(sentences_a, str) else list(sentences_a)
        b = None
        if sentences_b is not None:
            b = [sentences_b] if isinstance(sentences_b, str) else list(sentences_b)
            if len(a) != len(b):
                raise ValueError(
                    f"sentences_a and sentences_b differ in length: {len(a)} vs {len(b)}."
                )
        need = 3 if b is not None else 2
        if not isinstance(max_length, int | np.integer) or max_length < need:
            raise ValueError(
                f"max_length must be an integer >= {need} (room for [CLS] and [SEP]); "
                f"got {max_length!r}."
            )
        max_length = int(max_length)
        if not a:
            empty = np.zeros((0, max_length), np.int32)
            return {
                "input_ids": empty,
                "attention_mask": empty.copy(),
                "token_type_ids": empty.copy(),
            }
        self._tk.enable_truncation(max_length=max_length, strategy="longest_first")
        # Padding in NumPy below is ~2x faster than asking the tokenizer to pad every row.
        self._tk.no_padding()
        encs = self._tk.encode_batch(list(zip(a, b)) if b is not None else a)
        lengths = np.fromiter((len(e.ids) for e in encs), np.int64, len(encs))
        real = np.arange(max_length) < lengths[:, None]
        input_ids = np.full((len(encs), max_length), self.pad_id, np.int32)
        token_type_ids = np.zeros((len(encs), max_length), np.int32)
        total = int(lengths.sum())
        input_ids[real] = np.fromiter((i for e in encs for i in e.ids), np.int32, total)
        token_type_ids[real] = np.fromiter((t for e in encs for t in e.type_ids), np.int32, total)
        return {
            "input_ids": input_ids,
            "attention_mask": real.astype(np.int32),
            "token_type_ids": token_type_ids,
        }

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = True) -> str:
        """Maps token ids back to text (``##`` pieces joined)."""
        return self._tk.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def __repr__(self) -> str:
        return f"WordPieceTokenizer({str(self.vocab_path)!r}, vocab_size={self.vocab_size})"
