"""Tabular oracle: CSV schema, missing values, joins, query counting, report-metric guard."""

import jax
import numpy as np
import pytest

from efficient_jax.nas import benchmarks as nb

CSV = "index,arch_str,valid_acc_200ep,test_acc_200ep\n0,a,90.0,91.0\n1,b,,92.5\n2,c,88.0,\n"


def _write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_table_missing_values(tmp_path):
    t = nb.read_table(_write(tmp_path, CSV), required=("valid_acc_200ep",))
    assert len(t) == 3 and t.arch == ("a", "b", "c")
    assert np.isnan(t.column("valid_acc_200ep")[1]) and np.isnan(t.column("test_acc_200ep")[2])


def test_read_table_missing_column(tmp_path):
    with pytest.raises(ValueError, match="lacks required column"):
        nb.read_table(_write(tmp_path, "index,arch_str\n0,a\n"), required=("valid_acc_200ep",))


def test_join_costs(tmp_path):
    t = nb.read_table(_write(tmp_path, CSV))
    costs = _write(tmp_path, "index,latency_ms\n0,1.5\n2,3.0\n", "c.csv")
    t2 = nb.join_columns(t, costs, ["latency_ms"])
    np.testing.assert_array_equal(t2.column("latency_ms")[[0, 2]], [1.5, 3.0])
    assert np.isnan(t2.column("latency_ms")[1])
    with pytest.raises(ValueError, match="lacks required column"):
        nb.join_columns(t, costs, ["flops"])


def test_oracle_counts_and_refuses_report(tmp_path):
    t = nb.join_columns(
        nb.read_table(_write(tmp_path, CSV)),
        _write(tmp_path, "index,params\n0,1\n1,2\n2,3\n", "c.csv"),
        ["params"],
    )
    oracle = nb.TabularOracle(t, "valid_acc_200ep", "test_acc_200ep", cost_columns=["params"])
    view = oracle.view()
    np.testing.assert_array_equal(view.query([0, 2]), [90.0, 88.0])
    assert view.num_queries == 2 and oracle.num_queries == 2
    np.testing.assert_array_equal(view.column("params"), [1, 2, 3])
    with pytest.raises(PermissionError, match="report metric"):
        view.column("test_acc_200ep")
    with pytest.raises(PermissionError):
        view.report_values  # noqa: B018
    with pytest.raises(ValueError, match="not visible"):
        view.column("valid_acc_200ep")
    with pytest.raises(ValueError, match="Unknown column"):
        nb.TabularOracle(t, "valid_acc_12ep", "test_acc_200ep")


def test_nb201_loader(data_dir):
    t = nb.load_nb201(data_dir=data_dir)
    assert len(t) == 15625
    best = int(np.argmax(t.column("test_acc_200ep")))
    assert t.index[best] == 6111 and abs(t.column("test_acc_200ep")[best] - 94.3733) < 1e-3
    with pytest.raises(ValueError, match="Unknown NB201 dataset"):
        nb.load_nb201("mnist", data_dir=data_dir)


def test_nb101_loader(data_dir):
    t = nb.load_nb101_sample(data_dir)
    cells = nb.nb101_cells(t)
    assert len(cells) == 500 and max(t.column("val_accuracy")) == pytest.approx(94.71, abs=0.01)


def test_synthetic_table_structure():
    t = nb.synthetic_nb201_table(jax.random.key(0), size=625)
    v, s = t.column("valid_acc"), t.column("test_acc")
    assert len(t) == 625 and 0.5 < np.corrcoef(v, s)[0, 1] < 1.0


def test_join_by_arch_and_complete(tmp_path):
    t = nb.read_table(_write(tmp_path, CSV))
    costs = _write(tmp_path, "arch_str,latency_ms\nc,3.0\na,1.5\n", "c.csv")
    t2 = nb.join_columns(t, costs, ["latency_ms"], key="arch")
    np.testing.assert_array_equal(t2.column("latency_ms")[[0, 2]], [1.5, 3.0])
    with pytest.raises(ValueError, match=r"no value of 'latency_ms' for 1 of 3 .*\['b'\]"):
        nb.join_columns(t, costs, ["latency_ms"], key="arch", complete=True)
    with pytest.raises(ValueError, match="Unknown join key"):
        nb.join_columns(t, costs, ["latency_ms"], key="name")


ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
NB201_HEAD = "index,arch_str,valid_acc_12ep,test_acc_12ep,valid_acc_200ep,test_acc_200ep,params_m\n"


def _nb201_dir(tmp_path, filename, rows="0,{a},60.0,61.0,,70.0,0.5\n1,{a},62.0,63.0,,71.0,0.7\n"):
    (tmp_path / "nb201").mkdir(exist_ok=True)
    (tmp_path / "nb201" / filename).write_text(NB201_HEAD + rows.format(a=ARCH))
    return tmp_path


@pytest.mark.parametrize("name", ["imagenet16_120", "ImageNet16-120", "IMAGENET16-120", "imagenet"])
@pytest.mark.parametrize("filename", ["nb201_ImageNet16-120.csv", "nb201_imagenet16_120.csv"])
def test_nb201_dataset_spellings(tmp_path, name, filename):
    t = nb.load_nb201(name, data_dir=_nb201_dir(tmp_path, filename))
    assert len(t) == 2
    assert nb.nb201_dataset("cifar10-valid") == "cifar10" and nb.nb201_dataset("CIFAR_100") == (
        "cifar100"
    )
    with pytest.raises(ValueError, match=r"Unknown NB201 dataset 'mnist' \(tried 'mnist'.*valid:"):
        nb.load_nb201("mnist", data_dir=tmp_path)


def test_empty_search_column(tmp_path):
    """Issue 18 item 3: an empty search column names the column, dataset and non-empty columns."""
    t = nb.load_nb201("cifar100", data_dir=_nb201_dir(tmp_path, "nb201_cifar100.csv"))
    with pytest.raises(
        ValueError,
        match=r"'valid_acc_200ep' is empty for NB201 cifar100; columns with values: "
        r"\['params_m', 'test_acc_12ep', 'test_acc_200ep', 'valid_acc_12ep'\]",
    ):
        nb.nb201_metrics(t, "cifar100", "valid_acc_200ep", "test_acc_200ep")
    with pytest.raises(ValueError, match="'valid_acc_1ep' does not exist"):
        nb.nb201_metrics(t, "cifar100", "valid_acc_1ep")
    # Per-dataset default: the first candidate with values.
    assert nb.nb201_metrics(t, "CIFAR-100") == ("valid_acc_12ep", "test_acc_200ep")
    with pytest.raises(ValueError, match="'valid_acc_200ep' has no value.*valid_acc_12ep"):
        nb.TabularOracle(t, "valid_acc_200ep", "test_acc_200ep")


def test_nb201_default_metrics_cifar10(data_dir):
    t = nb.load_nb201("CIFAR10", data_dir=data_dir)
    assert nb.nb201_metrics(t, "cifar10") == ("valid_acc_200ep", "test_acc_200ep")
