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
