"""GLUE tasks through the classification trainer: configs, the regression path, task metrics."""

import json
import pathlib

import pytest

from efficient_jax import core
from efficient_jax.trainers import classification

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "configs" / "tiny_bert_glue.py"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "man", "dog", "runs", "sits", "cat", "."]
PAIRS = [("a man runs .", "a man runs ."), ("a dog sits .", "a cat runs ."), ("a cat .", "a dog .")]


def _tiny_glue(root: pathlib.Path) -> pathlib.Path:
    """A data folder with a 10-word vocabulary, STS-B (scores) and MRPC (BOM, Quality)."""
    (root / "weights").mkdir(parents=True)
    (root / "weights" / "bert_uncased_vocab.txt").write_text("\n".join(VOCAB) + "\n")
    for folder, header, label_of in (
        ("STS-B", "index\tgenre\tf\ty\to\ts1\ts2\tsentence1\tsentence2\tscore", lambda i: i % 6),
        ("MRPC", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", lambda i: int(i % 3 == 0)),
    ):
        (root / "glue" / folder).mkdir(parents=True)
        for split, n in (("train", 48), ("dev", 24)):
            rows = []
            for i in range(n):
                a, b = PAIRS[i % 3]
                pre = (
                    f"{i}\tg\tf\t2012\t{i}\tnone\tnone"
                    if folder == "STS-B"
                    else f"{label_of(i)}\t1\t2"
                )
                rows.append(
                    f"{pre}\t{a}\t{b}" + (f"\t{label_of(i)}.0" if folder == "STS-B" else "")
                )
            text = "\n".join([header, *rows]) + "\n"
            (root / "glue" / folder / f"{split}.tsv").write_text(text, encoding="utf-8-sig")
    return root


def _two_steps(task: str, data_dir) -> "core.ConfigDict":
    config = core.load_config(f"{CONFIG}:task={task},runlocal")
    config.data_dir = str(data_dir)
    config.num_steps, config.warmup_steps, config.log_every, config.checkpoint_every = 2, 0, 1, 0
    config.max_length = config.model_kwargs.max_position = 16
    config.train_limit, config.test_limit = 32, 16
    return config


def test_glue_config_tasks():
    for variant in ("", ",runlocal"):
        sst2 = core.load_config(f"{REPO_ROOT / 'configs/tiny_bert_sst2.py'}:{variant[1:]}")
        assert core.load_config(f"{CONFIG}:task=sst2{variant}").to_dict() == sst2.to_dict()
    stsb = core.load_config(f"{CONFIG}:task=STS-B")
    assert (stsb.dataset, stsb.model_kwargs.num_classes) == ("glue/stsb", 1)
    assert stsb.model_kwargs.max_position >= stsb.max_length
    for task in ("cola", "mrpc", "rte"):
        config = core.load_config(f"{CONFIG}:task={task}")
        assert (config.dataset, config.model_kwargs.num_classes) == (f"glue/{task}", 2)
    with pytest.raises(ValueError, match="Unknown GLUE task 'qnli'; valid: \\['cola'"):
        core.load_config(f"{CONFIG}:task=qnli")


def test_stsb_regression_runlocal(tmp_path, fast_compile):
    """The regression path end to end (MSE loss, 1 output, Pearson/Spearman, train-mean baseline)
    on a tiny synthetic GLUE folder."""
    config = _two_steps("stsb", _tiny_glue(tmp_path / "data"))
    config.train_limit = config.test_limit = 0  # all 48 / 24 rows: the baseline is exact
    state = classification.train_and_evaluate(config, str(tmp_path / "run"))
    assert int(state["step"]) == 2 and state["params"]["classifier"]["kernel"].shape[-1] == 1
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "test_accuracy" not in results
    assert {"test_loss", "test_mse", "test_pearson", "test_spearman", "train_mean_mse"} <= set(
        results
    )
    assert results["test_mse"] == pytest.approx(results["test_loss"], rel=1e-4)
    assert results["train_mean_mse"] == pytest.approx(17.5 / 6)  # labels i % 6, train mean 2.5
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert "loss" in metrics[0] and "accuracy" not in metrics[0]


@pytest.mark.data
def test_real_mrpc_runlocal(tmp_path, fast_compile, data_dir):
    """MRPC from the real files (byte-order mark): F1 and accuracy next to the majority class."""
    classification.train_and_evaluate(_two_steps("mrpc", data_dir), str(tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    assert {"test_accuracy", "test_loss", "test_f1", "majority_f1", "majority_accuracy"} <= set(
        results
    )
    assert 0.0 <= results["test_f1"] <= 1.0 and 0.0 < results["majority_f1"] < 1.0
