"""Search spaces: NB201 strings/neighbourhoods/encodings, NB101 pruning and hashing, products."""

import jax
import numpy as np
import pytest

from efficient_jax.nas import search
from efficient_jax.nas.predictors import MLPPredictor
from efficient_jax.nas.spaces import (
    NB201_SIZE,
    NB101Cell,
    NB201Cell,
    ProductSpace,
    channel_space,
    mobilenet_space,
    nb201_all_cells,
    nb201_neighbor_table,
    sample_pool,
)


def test_nb201_round_trip_all_cells():
    cells = nb201_all_cells()
    assert len(cells) == NB201_SIZE
    strings = [c.to_str() for c in cells]
    assert len(set(strings)) == NB201_SIZE
    for i, (c, s) in enumerate(zip(cells, strings)):
        back = NB201Cell.from_str(s)
        assert back == c and back.ordinal == i and back.to_str() == s


def test_nb201_round_trip_real_strings(data_dir):
    from efficient_jax.nas.benchmarks import load_nb201

    table = load_nb201(data_dir=data_dir)
    assert all(NB201Cell.from_str(a).to_str() == a for a in table.arch)


def test_nb201_neighbourhood_sizes_and_distance():
    cell = NB201Cell.sample(jax.random.key(3))
    n1, n2 = cell.neighborhood(1), cell.neighborhood(2)
    assert len(n1) == 25 and cell in n1
    assert len(n2) == 265 and len({c.ordinal for c in n2}) == 265
    assert max(cell.tv_distance(c) for c in n2) == 2.0
    assert len(cell.neighbors()) == 24
    table = nb201_neighbor_table()
    assert sorted(table[cell.ordinal].tolist()) == sorted(c.ordinal for c in cell.neighbors())


def test_nb201_encodings():
    cell = NB201Cell((0, 1, 2, 3, 4, 3))
    assert cell.encode().sum() == 6 and cell.encode().shape == (30,)
    assert cell.encode("adjacency").shape == (16,)
    # 0->3 is avg_pool (path 1), 0->1 is none (kills paths 2 and 4), 0->2->3 is skip->conv3.
    assert cell.encode("path").sum() == 2


@pytest.mark.parametrize(
    "bad",
    [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|",
        "|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0+none~0|none~1+none~0|none~1|none~2",
    ],
)
def test_nb201_bad_strings(bad):
    with pytest.raises(ValueError, match="NB201"):
        NB201Cell.from_str(bad)


def test_nb201_bad_ops():
    with pytest.raises(ValueError, match="6 op indices"):
        NB201Cell((0, 1, 5, 0, 0, 0))


def test_nb101_isomorphic_cells_hash_equal():
    ops = ("input", "conv3x3-bn-relu", "maxpool3x3", "output")
    m1 = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    a = NB101Cell(m1, ops)
    # Swap nodes 1 and 2.
    b = NB101Cell(m1, ("input", "maxpool3x3", "conv3x3-bn-relu", "output"))
    c = NB101Cell(m1, ("input", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"))
    assert a.hash() == b.hash() and a.hash() != c.hash()


def test_nb101_prunes_dangling_nodes():
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]  # node 2 never reaches output
    cell = NB101Cell(m, ("input", "conv1x1-bn-relu", "maxpool3x3", "output"))
    assert cell.num_nodes == 3 and cell.ops == ("input", "conv1x1-bn-relu", "output")
    assert cell.encode().shape == (36,)
    assert all(n.hash() != cell.hash() for n in cell.neighbors())


def test_nb101_bad_input():
    with pytest.raises(ValueError, match="Unknown NB101 op"):
        NB101Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ("input", "conv5x5", "output"))
    with pytest.raises(ValueError, match="upper-triangular"):
        NB101Cell([[0, 1], [1, 0]], ("input", "output"))
    with pytest.raises(ValueError, match="no path"):
        NB101Cell([[0, 0], [0, 0]], ("input", "output"))
    assert NB101Cell.sample(jax.random.key(0)).num_nodes >= 2


def test_product_space():
    space = ProductSpace(("k", "e", "w"), ((3, 5, 7), (3, 6), (0.5, 1.0)))
    arch = space.sample(jax.random.key(0))
    assert space.size == 12 and arch.encode().shape == (7,)
    assert len(arch.neighbors()) == 2 + 1 + 1
    assert all(arch.tv_distance(n) == 1 for n in arch.neighbors())
    with pytest.raises(ValueError, match="out of range"):
        space.arch((3, 0, 0))
    np.testing.assert_array_equal(space.arch((0, 1, 1)).values, (3, 6, 1.0))


def test_mobilenet_space_shape_and_validation():
    space = mobilenet_space()
    assert len(space.names) == 5 + 5 * 4 * 2 and space.size == 3**45
    arch = space.sample(jax.random.key(1))
    assert arch.encode().shape == (135,) and len(arch.neighbors()) == 45 * 2
    assert set(arch.values[:5]) <= {2, 3, 4}
    with pytest.raises(ValueError, match="depths must lie"):
        mobilenet_space(max_depth=3, depths=(2, 3, 4))


def test_channel_space_widths_and_validation():
    space = channel_space({"a": 16, "b": 64}, multipliers=(0.25, 0.5, 1.0), divisor=8)
    assert space.choices == ((8, 16), (16, 32, 64))
    with pytest.raises(ValueError, match="multipliers"):
        channel_space({"a": 16}, multipliers=(0.0, 1.0))
    with pytest.raises(ValueError, match="at least one"):
        channel_space({})


def test_weaknas_searches_a_sampled_product_pool():
    # Open-domain protocol: a uniform pool of the space, a synthetic objective with structure.
    space = channel_space({f"l{i}": 32 for i in range(6)}, multipliers=(0.25, 0.5, 0.75, 1.0))
    archs = sample_pool(space, jax.random.key(0), 500)
    enc = np.stack([a.encode() for a in archs])
    coef = np.linspace(1.0, 2.0, 6)
    score = np.array([coef @ np.array(a.values) for a in archs], np.float32)  # wider is better
    pool = search.Pool.from_encodings(enc)
    top = score >= np.quantile(score, 0.99)  # the best 1% of the pool

    class View:
        maximize = True

        def query(self, rows):
            return score[rows]

    def hits(make, seed):
        out = search.run_search(make(), View(), budget=60, key=jax.random.key(seed))
        return bool(top[out["trace"]].any())

    pred = MLPPredictor(hidden=(32,), epochs=50)
    weak = [hits(lambda: search.WeakNAS(pool, m0=20, m=20, top_n=20, predictor=pred), s)
            for s in range(4)]  # fmt: skip
    rand = [hits(lambda: search.RandomSearch(pool), s) for s in range(4)]
    # Random search finds a top-1% row within 60 queries with probability 1 - 0.99**60 = 45%.
    assert sum(weak) == 4 and sum(weak) > sum(rand), (weak, rand)
