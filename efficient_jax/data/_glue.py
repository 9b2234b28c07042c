"""GLUE TSV files (all nine tasks) and their BERT-tokenised form.

Files are the standard GLUE distribution, ``<data_dir>/glue/<TASK>/<split>.tsv``. Columns are found
by header name (CoLA's labelled files have no header: ``source, label, original label, sentence``).
Files are read as UTF-8 with an optional byte-order mark (MRPC's files start with one) and split on
tabs with no quote handling, as GLUE requires. Label strings map to ints by a fixed per-task list
(:data:`GLUE_LABELS`, the TFDS / Hugging Face order: RTE and QNLI ``entailment`` -> 0,
``not_entailment`` -> 1); STS-B scores (0-5) are float32 regression targets. Train and dev files
must carry their label column (a missing one is a ``ValueError``, never a label-less split); only
test files have none. :data:`GLUE_METRICS` names each task's official metrics (the first is the
headline score).

Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "dev.tsv"
    >>> _ = p.write_text("sentence\\tlabel\\ngood film\\t1\\n")
    >>> read_glue_tsv(p, "sst2")["label"].tolist()
    [1]
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

import numpy as np

from efficient_jax.data._info import Dataset, DatasetInfo, LazySplits
from efficient_jax.data._paths import require_file, resolve_data_dir
from efficient_jax.data._tokenizer import WordPieceTokenizer

_GLUE_HOW_TO = (
    "Download the GLUE data (https://gluebenchmark.com/tasks, or the GLUE download_glue_data.py "
    "script) and place <TASK>/<split>.tsv under <data_dir>/glue/."
)
_VOCAB_HOW_TO = "Use the bert-base-uncased vocab.txt, expected at <data_dir>/weights/."


@dataclasses.dataclass(frozen=True)
class _Task:
    folder: str  # folder name in the GLUE distribution
    a: str  # column of the first sentence
    b: str | None  # column of the second sentence (pair tasks)
    label: str  # column of the label in labelled files
    labels: tuple[str, ...] | None  # label strings in index order; None: float regression
    metrics: tuple[str, ...] = ("accuracy",)  # official metrics, headline first
    splits: tuple[str, ...] = ("train", "dev", "test")


_BINARY = ("0", "1")
_TASKS = {
    "cola": _Task("CoLA", "sentence", None, "label", _BINARY, ("matthews_corrcoef", "accuracy")),
    "sst2": _Task("SST-2", "sentence", None, "label", _BINARY),
    "mrpc": _Task("MRPC", "#1 String", "#2 String", "Quality", _BINARY, ("f1", "accuracy")),
    "qqp": _Task("QQP", "question1", "question2", "is_duplicate", _BINARY, ("f1", "accuracy")),
    "stsb": _Task("STS-B", "sentence1", "sentence2", "score", None, ("pearson", "spearman", "mse")),
    "mnli": _Task(
        "MNLI",
        "sentence1",
        "sentence2",
        "gold_label",
        ("entailment", "neutral", "contradiction"),
        splits=("train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched"),
    ),
    "qnli": _Task("QNLI", "question", "sentence", "label", ("entailment", "not_entailment")),
    "rte": _Task("RTE", "sentence1", "sentence2", "label", ("entailment", "not_entailment")),
    "wnli": _Task("WNLI", "sentence1", "sentence2", "label", ("0", "1")),
}
GLUE_TASKS = tuple(_TASKS)
# Label names in index order per task (None: regression target, float32).
GLUE_LABELS = {name: t.labels for name, t in _TASKS.items()}
# Official metrics per task, headline first (names of ``efficient_jax.train.METRICS``).
GLUE_METRICS = {name: t.metrics for name, t in _TASKS.items()}
# CoLA train/dev have no header: (source, label, original label mark, sentence).
_COLA_HEADERLESS = {"sentence": 3, "label": 1}


# Split names of a GLUE Dataset (TFDS names) -> the files' names: "validation" is dev.tsv.
GLUE_SPLIT_FILES = {
    "validation": "dev",
    "validation_matched": "dev_matched",
    "validation_mismatched": "dev_mismatched",
}


def _task(task: str) -> tuple[str, _Task]:
    key = task.lower().replace("-", "").replace("_", "")
    if key not in _TASKS:
        raise ValueError(f"Unknown GLUE task {task!r}; valid: {list(GLUE_TASKS)}.")
    return key, _TASKS[key]


def read_glue_tsv(path: str | os.PathLike, task: str, *, labelled: bool | None = None) -> dict:
    """Reads one GLUE TSV file into sentences and labels.

    Args:
      path: the ``.tsv`` file (train, dev or test layout of ``task``), UTF-8 with or without a
        byte-order mark.
      task: one of :data:`GLUE_TASKS` (case, ``-`` and ``_`` ignored: ``"SST-2"`` works).
      labelled: whether the file must carry the task's label column. ``None`` (default): required
        unless the file name marks a test split (a ``test`` part in its stem, such as
        ``test.tsv``, ``test_matched.tsv``); test files' labels are read when present.

    Returns:
      ``{"sentence_a": list[str], "sentence_b": list[str] | None, "label": np.ndarray | None}``;
      labels are int32 (float32 for STS-B) and ``None`` for unlabelled (test) files.

    Raises:
      ValueError: for an unknown task, missing columns (a labelled file without its label column:
        the message names the file, the columns found and the one expected), short rows or unknown
        label strings (the message names the file and line).
      DataNotFoundError: if the file does not exist.

    Example:
        >>> import pathlib, tempfile
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "train.tsv"
        >>> _ = p.write_text("src\\t1\\t\\tThe book fell.\\n")
        >>> read_glue_tsv(p, "CoLA")["sentence_a"]
        ['The book fell.']
        >>> _ = p.write_text("index\\tsentence1\\tsentence2\\n0\\tA.\\tB.\\n")
        >>> read_glue_tsv(p, "rte")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: .../train.tsv: no RTE label column 'label'; columns found: ['index', ...
    """
    name, spec = _task(task)
    path = require_file(path, f"GLUE {spec.folder} file", _GLUE_HOW_TO)
    if labelled is None:
        labelled = "test" not in re.split(r"[_\-.]", path.stem.lower())
    # utf-8-sig drops a leading byte-order mark (MRPC), which would otherwise hide the first column.
    with open(path, encoding="utf-8-sig", newline="") as f:
        # (line number, fields); blank lines are skipped but keep the numbering of the file.
        rows = [(i, line.rstrip("\r\n").split("\t")) for i, line in enumerate(f, start=1)]
    rows = [(i, r) for i, r in rows if r != [""]]
    if not rows:
        raise ValueError(f"{path} is empty; expected a GLUE {spec.folder} TSV.")

    first = rows[0][1]
    if name == "cola" and spec.a not in first:  # headerless train/dev file
        a_col, b_col, label_col = _COLA_HEADERLESS["sentence"], None, _COLA_HEADERLESS["label"]
    else:
        header, rows = first, rows[1:]
        missing = [c for c in (spec.a, spec.b) if c is not None and c not in header]
        if missing:
            raise ValueError(
                f"{path}: header {header} lacks the {spec.folder} column(s) {missing}; is this a "
                f"{spec.folder} file?"
            )
        a_col = header.index(spec.a)
        b_col = header.index(spec.b) if spec.b is not None else None
        # Test files have no label column; any other file without it is an error.
        label_col = header.index(spec.label) if spec.label in header else None
        if label_col is None and labelled:
            raise ValueError(
                f"{path}: no {spec.folder} label column {spec.label!r}; columns found: {header}. "
                f"Train and dev files must carry labels (only test files may lack them)."
            )

    width = max(i for i in (a_col, b_col, label_col) if i is not None) + 1
    sent_a, sent_b, labels = [], [] if spec.b else None, [] if label_col is not None else None
    for lineno, row in rows:
        if len(row) < width:
            raise ValueError(f"{path}, line {lineno}: {len(row)} columns, need {width}: {row}.")
        sent_a.append(row[a_col].strip())
        if sent_b is not None:
            sent_b.append(row[b_col].strip())
        if labels is not None:
            labels.append(_parse_label(row[label_col], spec, path, lineno))

    if labels is not None:
        labels = np.array(labels, np.float32 if spec.labels is None else np.int32)
    return {"sentence_a": sent_a, "sentence_b": sent_b, "label": labels}


def _parse_label(raw: str, spec: _Task, path: pathlib.Path, lineno: int) -> float | int:
    raw = raw.strip()
    if spec.labels is None:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{path}, line {lineno}: score {raw!r} is not a number.") from None
    if raw not in spec.labels:
        raise ValueError(
            f"{path}, line {lineno}: label {raw!r} is not one of {list(spec.labels)} "
            f"({spec.folder})."
        )
    return spec.labels.index(raw)


def load_glue(
    task: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    vocab_path: str | os.PathLike | None = None,
    max_length: int = 128,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Reads ``<data_dir>/glue/<TASK>/<split>.tsv`` and tokenises it for BERT.

    Args:
      task: one of :data:`GLUE_TASKS` (``"sst2"``, ``"SST-2"``, ``"mnli"``, ...).
      split: ``"train"``, ``"dev"`` or ``"test"`` (MNLI: ``"dev_matched"``, ``"dev_mismatched"``,
        ``"test_matched"``, ``"test_mismatched"``).
      data_dir: the data folder (see :func:`resolve_data_dir`).
      vocab_path: WordPiece vocabulary; default ``<data_dir>/weights/bert_uncased_vocab.txt``.
      max_length: token sequence length ``L``.
      limit: keep at most the first ``limit`` rows of the file.

    Returns:
      ``input_ids``, ``attention_mask``, ``token_type_ids`` (int32 ``(N, L)``) and ``label``
      (int32, float32 for STS-B). Unlabelled test files have no ``label`` key, so the dict can be
      batched directly.

    Raises:
      ValueError: for an unknown task or split, a non-positive ``limit``, or a train/dev file
        without its label column (the message names the file, the columns found and the one
        expected; see :func:`read_glue_tsv`).
      DataNotFoundError: if the TSV or the vocabulary is missing.

    Example:
        >>> ds = load_glue("sst2", "dev", max_length=64)  # doctest: +SKIP
        >>> ds["input_ids"].shape, ds["label"][:3]  # doctest: +SKIP
        ((872, 64), array([1, 0, 1], dtype=int32))
    """
    name, spec = _task(task)
    if split not in spec.splits:
        raise ValueError(
            f"Unknown split {split!r} for GLUE {spec.folder}; valid: {list(spec.splits)}."
        )
    if limit is not None and (not isinstance(limit, int | np.integer) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None; got {limit!r}.")
    root = resolve_data_dir(data_dir)
    path = require_file(
        root / "glue" / spec.folder / f"{split}.tsv",
        f"GLUE {spec.folder} {split} split",
        _GLUE_HOW_TO,
    )
    vocab = vocab_path if vocab_path is not None else root / "weights" / "bert_uncased_vocab.txt"
    vocab = require_file(vocab, "BERT WordPiece vocabulary", _VOCAB_HOW_TO)
    rows = read_glue_tsv(path, name, labelled=not split.startswith("test"))
    n = len(rows["sentence_a"]) if limit is None else min(limit, len(rows["sentence_a"]))
    tok = WordPieceTokenizer(vocab)
    b = rows["sentence_b"][:n] if rows["sentence_b"] is not None else None
    out = tok.encode(rows["sentence_a"][:n], b, max_length=max_length)
    if rows["label"] is not None:
        out["label"] = rows["label"][:n]
    return out


def glue_dataset(
    task: str,
    data_dir: str | os.PathLike | None = None,
    *,
    vocab_path: str | os.PathLike | None = None,
    max_length: int = 128,
    limit: int | None = None,
) -> Dataset:
    """A GLUE task as a :class:`Dataset` of tokenised splits, each read on first use.

    Split names follow TFDS: ``"train"``, ``"validation"`` (the ``dev.tsv`` file) and ``"test"``
    (unlabelled); MNLI has ``"validation_matched"``/``"validation_mismatched"`` and
    ``"test_matched"``/``"test_mismatched"``. Results are reported on the (first) validation
    split. Arguments are those of :func:`load_glue`.

    Info: kind ``"text"``, ``input_shape=(max_length,)``, ``num_classes`` the task's label count
    (1 for the STS-B regression score), no normalisation statistics.

    Raises:
      ValueError: for an unknown task.
      DataNotFoundError: if the data folder does not exist (a missing file: when its split is
        first indexed).

    Example:
        >>> ds = glue_dataset("rte")  # doctest: +SKIP
        >>> list(ds.splits), ds.info.eval_split, ds.info.num_classes  # doctest: +SKIP
        (['train', 'validation', 'test'], 'validation', 2)
    """
    name, spec = _task(task)
    root = resolve_data_dir(data_dir)
    file_to_split = {f: s for s, f in GLUE_SPLIT_FILES.items()}
    splits = LazySplits(
        {
            file_to_split.get(f, f): (
                lambda f=f: load_glue(
                    name, f, root, vocab_path=vocab_path, max_length=max_length, limit=limit
                )
            )
            for f in spec.splits
        }
    )
    num_classes = 1 if spec.labels is None else len(spec.labels)
    eval_split = next(s for s in splits if s.startswith("validation"))
    info = DatasetInfo(
        f"glue/{name}", "text", (int(max_length),), num_classes, None, None, eval_split=eval_split
    )
    return Dataset(splits, info)
