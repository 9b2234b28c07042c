"""The NAS-Bench-201 cell: 6 edges of a 4-node DAG, 5 candidate operations per edge.

Reference: Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
Search", ICLR 2020. Neighbourhoods and the total-variation distance follow Wang's thesis, Ch. 3
(neighbourhood-aware NAS, Eqs. 3.2-3.3).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import jax
import numpy as np

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# Edge order of the official arch_str: (0->1), (0->2), (1->2), (0->3), (1->3), (2->3).
NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NB201_SIZE = len(NB201_OPS) ** len(NB201_EDGES)
# Input -> output paths as edge-index sequences, for the path encoding.
_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
_PATH_OPS = NB201_OPS[1:]  # a path through a "none" edge carries nothing


@dataclasses.dataclass(frozen=True)
class NB201Cell:
    """One NAS-Bench-201 cell: ``ops[e]`` is the operation index of edge ``NB201_EDGES[e]``.

    Example:
        >>> s = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|"
        ...      "+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
        >>> cell = NB201Cell.from_str(s)
        >>> cell.to_str() == s, cell.encode().shape, len(cell.neighbors())
        (True, (30,), 24)
    """

    ops: tuple[int, ...]

    def __post_init__(self):
        ops = tuple(int(o) for o in self.ops)
        if len(ops) != 6 or any(not 0 <= o < len(NB201_OPS) for o in ops):
            raise ValueError(
                f"NB201Cell needs 6 op indices in [0, {len(NB201_OPS)}), got {self.ops!r}."
            )
        object.__setattr__(self, "ops", ops)

    # -- string / index conversions ---------------------------------------------------------
    @classmethod
    def from_str(cls, arch_str: str) -> NB201Cell:
        """Parses the official ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` string.

        Raises:
          ValueError: for a malformed string or an unknown operation (lists the valid ones).
        """
        if not isinstance(arch_str, str):
            raise ValueError(f"arch_str must be a string, got {type(arch_str).__name__}.")
        nodes = arch_str.strip().split("+")
        if len(nodes) != 3:
            raise ValueError(
                f"Malformed NB201 arch_str {arch_str!r}: expected 3 '+'-separated node groups "
                "like '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'."
            )
        ops = []
        for j, group in enumerate(nodes, start=1):
            if not (group.startswith("|") and group.endswith("|")):
                raise ValueError(f"Malformed NB201 arch_str {arch_str!r}: group {group!r}.")
            items = group[1:-1].split("|")
            if len(items) != j:
                raise ValueError(
                    f"Malformed NB201 arch_str {arch_str!r}: node {j} needs {j} inputs, "
                    f"got {len(items)}."
                )
            for i, item in enumerate(items):
                name, sep, src = item.partition("~")
                if not sep or src != str(i):
                    raise ValueError(
                        f"Malformed NB201 arch_str {arch_str!r}: expected '<op>~{i}', got {item!r}."
                    )
                if name not in NB201_OPS:
                    raise ValueError(
                        f"Unknown NB201 op {name!r} in {arch_str!r}; valid: {NB201_OPS}."
                    )
                ops.append(NB201_OPS.index(name))
        # Groups list node 1 (edge 0->1), node 2 (0->2, 1->2), node 3 (0->3, 1->3, 2->3).
        return cls(tuple(ops))

    def to_str(self) -> str:
        """The official arch string."""
        names = [f"{NB201_OPS[o]}~{i}" for o, (i, _) in zip(self.ops, NB201_EDGES)]
        return f"|{names[0]}|+|{names[1]}|{names[2]}|+|{names[3]}|{names[4]}|{names[5]}|"

    @property
    def ordinal(self) -> int:
        """Base-5 index in ``[0, 15625)`` (edge 0 most significant); not the official index."""
        out = 0
        for o in self.ops:
            out = out * len(NB201_OPS) + o
        return out

    @classmethod
    def from_ordinal(cls, ordinal: int) -> NB201Cell:
        if not 0 <= int(ordinal) < NB201_SIZE:
            raise ValueError(f"NB201 ordinal must be in [0, {NB201_SIZE}), got {ordinal}.")
        ops, rest = [], int(ordinal)
        for _ in range(6):
            ops.append(rest % 5)
            rest //= 5
        return cls(tuple(reversed(ops)))

    def hash(self) -> str:
        """A stable hash: the canonical arch string (NB201 cells are not deduplicated)."""
        return self.to_str()

    # -- encodings ----------------------------------------------------------------------------
    def encode(self, kind: str = "onehot") -> np.ndarray:
        """``onehot`` (30: 6 edges × 5 ops), ``adjacency`` (16: 4×4 matrix of op id + 1) or
        ``path`` (100: which op sequences connect input to output, White et al. 2021)."""
        if kind == "onehot":
            out = np.zeros((6, 5), np.float32)
            out[np.arange(6), self.ops] = 1.0
            return out.reshape(-1)
        if kind == "adjacency":
            adj = np.zeros((4, 4), np.float32)
            for o, (i, j) in zip(self.ops, NB201_EDGES):
                adj[i, j] = o + 1
            return adj.reshape(-1)
        if kind == "path":
            return _path_encoding(self.ops)
        raise ValueError(f"Unknown encoding {kind!r}; valid: 'onehot', 'adjacency', 'path'.")

    # -- neighbourhoods -----------------------------------------------------------------------
    def tv_distance(self, other: NB201Cell) -> float:
        """Σ_edges ½‖α_e − α'_e‖₁ (Wang Eq. 3.2): the number of edges whose op differs."""
        return float(sum(a != b for a, b in zip(self.ops, other.ops)))

    def neighbors(self) -> list[NB201Cell]:
        """The 24 cells that differ in exactly one edge's op."""
        return [c for c in self.neighborhood(1) if c != self]

    def neighborhood(self, distance: int = 1) -> list[NB201Cell]:
        """N(α) = {α' : dist(α, α') ≤ d}, including α itself (Wang Eq. 3.3).

        ``|N| = 25`` for d=1 and ``265`` for d=2.
        """
        if distance < 0:
            raise ValueError(f"distance must be >= 0, got {distance}.")
        out = [self]
        for k in range(1, min(int(distance), 6) + 1):
            for edges in itertools.combinations(range(6), k):
                alts = [[o for o in range(5) if o != self.ops[e]] for e in edges]
                for choice in itertools.product(*alts):
                    ops = list(self.ops)
                    for e, o in zip(edges, choice):
                        ops[e] = o
                    out.append(NB201Cell(tuple(ops)))
        return out

    @classmethod
    def sample(cls, key: jax.Array) -> NB201Cell:
        """A uniformly random cell."""
        return cls(tuple(int(o) for o in jax.random.randint(key, (6,), 0, 5)))


def _path_encoding(ops: Sequence[int]) -> np.ndarray:
    offsets, sizes = [], []
    total = 0
    for path in _PATHS:
        offsets.append(total)
        sizes.append(len(_PATH_OPS) ** len(path))
        total += sizes[-1]
    out = np.zeros(total, np.float32)
    for path, off in zip(_PATHS, offsets):
        if any(ops[e] == 0 for e in path):
            continue
        idx = 0
        for e in path:
            idx = idx * len(_PATH_OPS) + (ops[e] - 1)
        out[off + idx] = 1.0
    return out


def nb201_all_cells() -> list[NB201Cell]:
    """All 15,625 cells in ordinal order."""
    return [NB201Cell(ops) for ops in itertools.product(range(5), repeat=6)]


def nb201_neighbor_table(ordinals: np.ndarray | None = None) -> np.ndarray:
    """``(15625, 24)`` int array: ordinals of the one-op neighbours of every ordinal."""
    base = 5 ** np.arange(5, -1, -1)
    all_ops = (np.arange(NB201_SIZE)[:, None] // base[None]) % 5  # (N, 6)
    cols = []
    for e in range(6):
        for shift in range(1, 5):
            new = (all_ops[:, e] + shift) % 5
            cols.append(np.arange(NB201_SIZE) + (new - all_ops[:, e]) * base[e])
    return np.stack(cols, axis=1)
