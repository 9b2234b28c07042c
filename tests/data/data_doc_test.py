"""The missing-data error points at docs/DATA.md, and that page covers every dataset folder."""

import pathlib

import pytest

from efficient_jax import data

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA_MD = REPO_ROOT / "docs" / "DATA.md"


def test_missing_data_errors_point_at_docs_data_md(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="docs/DATA.md"):
        data.resolve_data_dir(tmp_path / "missing")
    with pytest.raises(data.DataNotFoundError, match="docs/DATA.md") as e:
        data.load("glue/mrpc", data_dir=tmp_path)["train"]
    assert "shared/data/README" not in str(e.value)
    with pytest.raises(data.DataNotFoundError, match="docs/DATA.md"):
        data.load("mnist", data_dir=tmp_path)
    with pytest.raises(data.DataNotFoundError, match="docs/DATA.md"):
        data.load_cifar10("test", tmp_path)


def test_data_md_documents_every_folder_and_glue_task():
    text = DATA_MD.read_text()
    for folder in ("mnist/", "cifar10/", "glue/", "weights/", "nb201/", "nb101/", "tfds:"):
        assert folder in text, folder
    for file in (
        "t10k-images-idx3-ubyte.gz",
        "cifar10_{train,test}_jpeg.tar.gz",
        "bert_uncased_vocab.txt",
        "resnet20-12fca82f.npz",
        "nb201_cifar10.csv",
        "nb201_cifar10_zero_cost_sample.csv",
        "nb101_sample500.csv",
        "EFFICIENT_JAX_DATA",
        "EFFICIENT_JAX_CACHE",
    ):
        assert file in text, file
    for folder in ("CoLA/", "SST-2/", "MRPC/", "RTE/", "STS-B/"):
        assert f"`{folder}`" in text, folder
