"""Tests for GLUE TSV readers and load_glue (tiny files in tmp_path, and the real GLUE tasks)."""

import numpy as np
import pytest

from efficient_jax import data
from efficient_jax.data import (
    GLUE_LABELS,
    GLUE_METRICS,
    GLUE_TASKS,
    DataNotFoundError,
    load_glue,
    read_glue_tsv,
)

TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "bad", "film", "very", "##s"]


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _tiny_data_dir(root):
    _write(root / "weights" / "bert_uncased_vocab.txt", TINY_VOCAB)
    _write(
        root / "glue" / "SST-2" / "dev.tsv", ["sentence\tlabel", "good film \t1", "bad films\t0"]
    )
    _write(root / "glue" / "SST-2" / "test.tsv", ["index\tsentence", "0\tvery good", "1\tbad"])
    return root


def test_sst2_train_and_test_layouts(tmp_path):
    p = _write(tmp_path / "dev.tsv", ["sentence\tlabel", 'it \'s "fun" . \t1', "dull\t0"])
    rows = read_glue_tsv(p, "SST-2")
    assert rows["sentence_a"] == ['it \'s "fun" .', "dull"]  # quotes kept verbatim
    assert rows["sentence_b"] is None
    assert rows["label"].dtype == np.int32 and rows["label"].tolist() == [1, 0]
    p = _write(tmp_path / "test.tsv", ["index\tsentence", "0\tfine", "1\tawful"])
    rows = read_glue_tsv(p, "sst2")
    assert rows["sentence_a"] == ["fine", "awful"] and rows["label"] is None


def test_cola_headerless_and_test(tmp_path):
    p = _write(
        tmp_path / "train.tsv",
        ["gj04\t1\t\tOur friends won't buy this analysis.", "gj04\t0\t*\tThey drank the pub."],
    )
    rows = read_glue_tsv(p, "cola")
    assert rows["sentence_a"] == ["Our friends won't buy this analysis.", "They drank the pub."]
    assert rows["label"].tolist() == [1, 0]
    p = _write(tmp_path / "test.tsv", ["index\tsentence", "0\tBill whistled past the house."])
    rows = read_glue_tsv(p, "CoLA")
    assert rows["sentence_a"] == ["Bill whistled past the house."] and rows["label"] is None


def test_mnli_label_mapping_train_and_dev_layouts(tmp_path):
    cols = "index\tpromptID\tpairID\tgenre\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2"
    train = _write(
        tmp_path / "train.tsv",
        [
            cols + "\tlabel1\tgold_label",
            "0\t1\t1e\tgov\t(\t(\t(\t(\tA man.\tA person.\tentailment\tentailment",
            "1\t1\t1n\tgov\t(\t(\t(\t(\tA man.\tA tall man.\tneutral\tneutral",
            "2\t1\t1c\tgov\t(\t(\t(\t(\tA man.\tNo one.\tcontradiction\tcontradiction",
        ],
    )
    rows = read_glue_tsv(train, "mnli")
    assert GLUE_LABELS["mnli"] == ("entailment", "neutral", "contradiction")
    assert rows["label"].tolist() == [0, 1, 2]
    assert rows["sentence_a"][1] == "A man." and rows["sentence_b"][1] == "A tall man."
    dev = _write(
        tmp_path / "dev_matched.tsv",
        [
            cols + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label",
            "0\t1\t1c\tgov\t(\t(\t(\t(\tA.\tB.\tneutral\tcontradiction\tcontradiction\t"
            "contradiction\tcontradiction\tcontradiction",
        ],
    )
    assert read_glue_tsv(dev, "MNLI")["label"].tolist() == [2]  # gold_label, not label1


def test_pair_tasks_and_stsb(tmp_path):
    qnli = _write(
        tmp_path / "qnli.tsv",
        [
            "index\tquestion\tsentence\tlabel",
            "0\tWho?\tHim.\tnot_entailment",
            "1\tQ\tS\tentailment",
        ],
    )
    rows = read_glue_tsv(qnli, "qnli")
    assert rows["sentence_a"] == ["Who?", "Q"] and rows["sentence_b"] == ["Him.", "S"]
    assert rows["label"].tolist() == [1, 0]
    mrpc = _write(
        tmp_path / "mrpc.tsv",
        ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", "1\t1\t2\tA b.\tA B."],
    )
    rows = read_glue_tsv(mrpc, "mrpc")
    assert (rows["sentence_a"], rows["sentence_b"], rows["label"].tolist()) == (
        ["A b."],
        ["A B."],
        [1],
    )
    stsb = _write(
        tmp_path / "stsb.tsv",
        [
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
            "0\tmain\tf\t2012\t1\tnone\tnone\tA plane.\tAn airplane.\t5.000",
            "1\tmain\tf\t2012\t4\tnone\tnone\tA cat.\tA dog.\t0.5",
        ],
    )
    rows = read_glue_tsv(stsb, "STS-B")
    assert rows["label"].dtype == np.float32 and rows["label"].tolist() == [5.0, 0.5]
    assert rows["sentence_b"] == ["An airplane.", "A dog."]
    qqp = _write(
        tmp_path / "qqp.tsv",
        ["id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", "7\t1\t2\tHow?\tWhy?\t0"],
    )
    assert read_glue_tsv(qqp, "qqp")["sentence_b"] == ["Why?"]
    rte = _write(tmp_path / "rte_test.tsv", ["index\tsentence1\tsentence2", "0\tP.\tH."])
    rows = read_glue_tsv(rte, "rte")
    assert rows["sentence_b"] == ["H."] and rows["label"] is None
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli"}


def test_reader_errors(tmp_path):
    p = _write(tmp_path / "x.tsv", ["sentence\tlabel", "ok\t1"])
    with pytest.raises(ValueError, match="valid") as e:
        read_glue_tsv(p, "imdb")
    assert "sst2" in str(e.value) and "mnli" in str(e.value)
    with pytest.raises(ValueError, match="sentence1"):
        read_glue_tsv(p, "rte")  # wrong file for the task
    bad_label = _write(tmp_path / "bad.tsv", ["sentence\tlabel", "ok\t1", "hm\tpositive"])
    with pytest.raises(ValueError, match="line 3"):
        read_glue_tsv(bad_label, "sst2")
    short = _write(tmp_path / "short.tsv", ["sentence\tlabel", "no label column"])
    with pytest.raises(ValueError, match="line 2"):
        read_glue_tsv(short, "sst2")
    with pytest.raises(DataNotFoundError, match="missing.tsv"):
        read_glue_tsv(tmp_path / "missing.tsv", "sst2")


def test_load_glue_tiny(tmp_path):
    root = _tiny_data_dir(tmp_path / "data")
    ds = load_glue("sst2", "dev", root, max_length=6)
    assert set(ds) == {"input_ids", "attention_mask", "token_type_ids", "label"}
    np.testing.assert_array_equal(ds["input_ids"], [[2, 4, 6, 3, 0, 0], [2, 5, 6, 8, 3, 0]])
    np.testing.assert_array_equal(ds["attention_mask"], [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0]])
    assert ds["label"].tolist() == [1, 0]
    one = load_glue("SST-2", "dev", root, max_length=6, limit=1)
    assert one["input_ids"].shape == (1, 6) and one["label"].tolist() == [1]
    test = load_glue("sst2", "test", root, max_length=8)
    assert "label" not in test and test["input_ids"].shape == (2, 8)


def test_load_glue_errors(tmp_path):
    root = _tiny_data_dir(tmp_path / "data")
    with pytest.raises(ValueError, match="dev_matched"):
        load_glue("mnli", "dev", root)
    with pytest.raises(ValueError, match="valid"):
        load_glue("sst5", "dev", root)
    with pytest.raises(DataNotFoundError) as e:
        load_glue("rte", "dev", root)
    assert str(root / "glue" / "RTE" / "dev.tsv") in str(e.value)
    assert "EFFICIENT_JAX_DATA" in str(e.value)
    with pytest.raises(DataNotFoundError, match="vocab"):
        load_glue("sst2", "dev", root, vocab_path=tmp_path / "vocab.txt")
    with pytest.raises(ValueError, match="limit"):
        load_glue("sst2", "dev", root, limit=0)


@pytest.mark.data
def test_real_sst2_dev(data_dir):
    rows = read_glue_tsv(data_dir / "glue" / "SST-2" / "dev.tsv", "sst2")
    assert len(rows["sentence_a"]) == 872 and set(rows["label"].tolist()) == {0, 1}
    assert rows["sentence_a"][0] == "it 's a charming and often affecting journey ."
    ds = load_glue("sst2", "dev", data_dir, max_length=32, limit=8)
    assert ds["input_ids"].shape == (8, 32) and ds["input_ids"].dtype == np.int32
    assert (ds["input_ids"][:, 0] == 101).all()  # [CLS] in bert-base-uncased
    # "it 's a charming ..." -> it ' s a charming
    assert ds["input_ids"][0, 1:6].tolist() == [2009, 1005, 1055, 1037, 11951]
    assert ds["label"].tolist() == rows["label"][:8].tolist()


MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"


def test_mrpc_byte_order_mark_keeps_labels(tmp_path):
    """Issue 18 bug 2: MRPC's files start with a BOM; the label column must still be found."""
    p = tmp_path / "train.tsv"
    p.write_text(f"{MRPC_HEADER}\n1\t1\t2\tA b.\tA B.\n0\t3\t4\tC.\tD.\n", encoding="utf-8-sig")
    assert p.read_bytes()[:3] == b"\xef\xbb\xbf"
    rows = read_glue_tsv(p, "mrpc")
    assert rows["label"] is not None and rows["label"].tolist() == [1, 0]
    assert rows["sentence_a"] == ["A b.", "C."] and rows["sentence_b"] == ["A B.", "D."]


def test_labelled_file_without_label_column_is_an_error(tmp_path):
    """Never a silent label-less split: the error names the file, the columns and the column."""
    p = _write(tmp_path / "train.tsv", ["\ufeffQuality2\t#1 ID\t#2 ID\t#1 String\t#2 String"])
    with pytest.raises(ValueError) as e:
        read_glue_tsv(p, "mrpc")
    msg = str(e.value)
    assert str(p) in msg and "'Quality'" in msg and "'#1 String'" in msg and "Quality2" in msg
    dev = _write(tmp_path / "dev.tsv", ["index\tsentence1\tsentence2", "0\tP.\tH."])
    with pytest.raises(ValueError, match="no RTE label column 'label'"):
        read_glue_tsv(dev, "rte")
    assert read_glue_tsv(dev, "rte", labelled=False)["label"] is None  # explicit: fine
    test = _write(tmp_path / "test_matched.tsv", ["index\tsentence1\tsentence2", "0\tP.\tH."])
    assert read_glue_tsv(test, "mnli")["label"] is None  # test files may lack labels


def test_load_glue_dev_without_labels_fails_at_load(tmp_path):
    root = _tiny_data_dir(tmp_path / "data")
    _write(root / "glue" / "MRPC" / "dev.tsv", ["#1 String\t#2 String", "good\tbad"])
    with pytest.raises(ValueError, match="MRPC label column 'Quality'"):
        load_glue("mrpc", "dev", root, max_length=8)
    _write(root / "glue" / "MRPC" / "test.tsv", ["index\t#1 String\t#2 String", "0\tgood\tbad"])
    assert "label" not in load_glue("mrpc", "test", root, max_length=8)


def test_rte_string_labels_and_task_metrics(tmp_path):
    p = _write(
        tmp_path / "dev.tsv",
        [
            "index\tsentence1\tsentence2\tlabel",
            "0\tA.\tB.\tnot_entailment",
            "1\tC.\tD.\tentailment",
        ],
    )
    assert GLUE_LABELS["rte"] == ("entailment", "not_entailment")
    assert read_glue_tsv(p, "rte")["label"].tolist() == [1, 0]
    assert GLUE_METRICS["cola"][0] == "matthews_corrcoef"
    assert GLUE_METRICS["mrpc"] == ("f1", "accuracy") and GLUE_METRICS["rte"] == ("accuracy",)
    assert GLUE_METRICS["stsb"][:2] == ("pearson", "spearman") and set(GLUE_METRICS) == set(
        GLUE_TASKS
    )


# (task folder, task, rows per split, sentence pair?, labels): the standard GLUE download.
REAL_TASKS = [
    ("CoLA", "cola", {"train": 8551, "dev": 1043, "test": 1063}, False, {0, 1}),
    ("SST-2", "sst2", {"train": 67349, "dev": 872, "test": 1821}, False, {0, 1}),
    ("MRPC", "mrpc", {"train": 3667, "dev": 408, "test": 1725}, True, {0, 1}),
    ("RTE", "rte", {"train": 2490, "dev": 277, "test": 3000}, True, {0, 1}),
    ("STS-B", "stsb", {"train": 5749, "dev": 1500, "test": 1379}, True, None),
]


@pytest.mark.data
@pytest.mark.parametrize("folder,task,rows,pair,label_set", REAL_TASKS)
def test_real_glue_tasks(data_dir, folder, task, rows, pair, label_set):
    for split, n in rows.items():
        r = read_glue_tsv(data_dir / "glue" / folder / f"{split}.tsv", task)
        assert len(r["sentence_a"]) == n and all(r["sentence_a"])
        assert (r["sentence_b"] is not None) == pair
        if split == "test":
            assert r["label"] is None
        elif label_set is None:  # STS-B: similarity scores in [0, 5]
            assert r["label"].dtype == np.float32 and 0 <= r["label"].min() < r["label"].max() <= 5
        else:
            assert r["label"].dtype == np.int32 and set(r["label"].tolist()) == label_set
    ds = data.load(f"glue/{task}", data_dir=data_dir, max_length=32, limit=4)
    assert ds.info.num_classes == (1 if task == "stsb" else 2)
    assert ds.info.eval_split == "validation" and set(ds.splits) == {"train", "validation", "test"}
    dev = ds["validation"]
    assert dev["input_ids"].shape == (4, 32) and (dev["input_ids"][:, 0] == 101).all()
    assert (dev["token_type_ids"].max() == 1) == pair and len(dev["label"]) == 4
