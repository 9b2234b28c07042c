"""The NAS-Bench-101 cell: a ≤7-node DAG (≤9 edges) with one op per intermediate node.

Reference: Ying et al., "NAS-Bench-101: Towards Reproducible Neural Architecture Search",
ICML 2019. Pruning and the isomorphism-invariant hash follow the official ``nasbench`` API
(``model_spec.py``, ``graph_util.hash_module``).
"""

from __future__ import annotations

import dataclasses
import hashlib

import jax
import numpy as np

NB101_OPS = ("conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
NB101_MAX_NODES = 7
NB101_MAX_EDGES = 9
_INPUT, _OUTPUT = "input", "output"


def _prune(matrix: np.ndarray, ops: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Drops nodes not on an input→output path (official ``ModelSpec._prune``)."""
    n = matrix.shape[0]
    fwd, frontier = {0}, [0]
    while frontier:
        v = frontier.pop()
        for w in range(v + 1, n):
            if matrix[v, w] and w not in fwd:
                fwd.add(w)
                frontier.append(w)
    bwd, frontier = {n - 1}, [n - 1]
    while frontier:
        v = frontier.pop()
        for u in range(v):
            if matrix[u, v] and u not in bwd:
                bwd.add(u)
                frontier.append(u)
    if n - 1 not in fwd:
        raise ValueError("NB101 cell has no path from input to output.")
    keep = sorted(fwd & bwd)
    return matrix[np.ix_(keep, keep)], tuple(ops[i] for i in keep)


@dataclasses.dataclass(frozen=True)
class NB101Cell:
    """A pruned NB101 cell: upper-triangular 0/1 ``matrix`` (as nested tuples) and node ``ops``.

    The constructor validates the cell and prunes dangling nodes, so two specs that build the same
    network compare equal after pruning; :meth:`hash` is also invariant to node relabelling.

    Example:
        >>> m = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
        >>> a = NB101Cell(m, ("input", "conv3x3-bn-relu", "output"))
        >>> a.num_nodes, len(a.hash())
        (3, 32)
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    def __post_init__(self):
        m = np.asarray(self.matrix)
        ops = tuple(self.ops)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or not 2 <= m.shape[0] <= NB101_MAX_NODES:
            raise ValueError(
                f"NB101 matrix must be square with 2..{NB101_MAX_NODES} nodes, got shape {m.shape}."
            )
        if not np.isin(m, (0, 1)).all() or np.tril(m).any():
            raise ValueError("NB101 matrix must be 0/1 and strictly upper-triangular.")
        if len(ops) != m.shape[0]:
            raise ValueError(f"NB101 ops need one entry per node ({m.shape[0]}), got {len(ops)}.")
        if ops[0] != _INPUT or ops[-1] != _OUTPUT:
            raise ValueError(f"NB101 ops must start with 'input' and end with 'output': {ops}.")
        for op in ops[1:-1]:
            if op not in NB101_OPS:
                raise ValueError(f"Unknown NB101 op {op!r}; valid: {NB101_OPS}.")
        m, ops = _prune(m.astype(np.int64), ops)
        if int(m.sum()) > NB101_MAX_EDGES:
            raise ValueError(f"NB101 cell has {int(m.sum())} edges; at most {NB101_MAX_EDGES}.")
        object.__setattr__(self, "matrix", tuple(tuple(int(x) for x in r) for r in m))
        object.__setattr__(self, "ops", ops)

    @classmethod
    def from_strings(cls, adjacency: str, ops: str) -> NB101Cell:
        """From the CSV form: a 7×7 row-major bit string and ``|``-separated ops."""
        op_list = tuple(ops.split("|"))
        n = len(op_list)
        if len(adjacency) != n * n or set(adjacency) - {"0", "1"}:
            raise ValueError(
                f"NB101 adjacency must be a {n}x{n} row-major 0/1 string, got {adjacency!r}."
            )
        m = np.array([int(c) for c in adjacency]).reshape(n, n)
        return cls(tuple(map(tuple, m.tolist())), op_list)

    @property
    def num_nodes(self) -> int:
        return len(self.ops)

    def hash(self) -> str:
        """Isomorphism-invariant fingerprint (official ``graph_util.hash_module``)."""
        m = np.asarray(self.matrix)
        n = m.shape[0]
        labels = [-1] + [NB101_OPS.index(o) for o in self.ops[1:-1]] + [-2]
        hashes = [
            hashlib.md5(str(h).encode()).hexdigest()
            for h in zip(m.sum(1).tolist(), m.sum(0).tolist(), labels)
        ]
        for _ in range(n):
            hashes = [
                hashlib.md5(
                    (
                        "".join(sorted(hashes[w] for w in range(n) if m[w, v]))
                        + "|"
                        + "".join(sorted(hashes[w] for w in range(n) if m[v, w]))
                        + "|"
                        + hashes[v]
                    ).encode()
                ).hexdigest()
                for v in range(n)
            ]
        return hashlib.md5(str(sorted(hashes)).encode()).hexdigest()

    def encode(self, kind: str = "adjacency") -> np.ndarray:
        """``adjacency``: 21 upper-triangle bits of the 7×7 matrix (padded before the output node)
        + a one-hot op (3) per intermediate slot (5): 36 dims."""
        if kind != "adjacency":
            raise ValueError(f"Unknown encoding {kind!r}; valid: 'adjacency'.")
        n = self.num_nodes
        m = np.zeros((NB101_MAX_NODES, NB101_MAX_NODES), np.float32)
        src = np.asarray(self.matrix, np.float32)
        # Pad as the official API: the output node moves to slot 6.
        idx = list(range(n - 1)) + [NB101_MAX_NODES - 1]
        m[np.ix_(idx, idx)] = src
        ops = np.zeros((NB101_MAX_NODES - 2, len(NB101_OPS)), np.float32)
        for i, op in enumerate(self.ops[1:-1]):
            ops[i, NB101_OPS.index(op)] = 1.0
        return np.concatenate([m[np.triu_indices(NB101_MAX_NODES, 1)], ops.reshape(-1)])

    def neighbors(self) -> list[NB101Cell]:
        """Valid cells one edge flip or one op change away (deduplicated by :meth:`hash`)."""
        m = np.asarray(self.matrix)
        n = m.shape[0]
        out, seen = [], {self.hash()}
        cands = []
        for i in range(n):
            for j in range(i + 1, n):
                m2 = m.copy()
                m2[i, j] = 1 - m2[i, j]
                cands.append((m2, self.ops))
        for i in range(1, n - 1):
            for op in NB101_OPS:
                if op != self.ops[i]:
                    cands.append((m, self.ops[:i] + (op,) + self.ops[i + 1 :]))
        for m2, ops in cands:
            try:
                cell = NB101Cell(tuple(map(tuple, m2.tolist())), ops)
            except ValueError:
                continue
            h = cell.hash()
            if h not in seen:
                seen.add(h)
                out.append(cell)
        return out

    @classmethod
    def sample(cls, key: jax.Array) -> NB101Cell:
        """A uniformly random valid 7-node spec (rejection sampling, as the official API)."""
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
        for _ in range(1000):
            m = np.triu(rng.integers(0, 2, (7, 7)), 1)
            ops = ("input", *(NB101_OPS[int(o)] for o in rng.integers(0, 3, 5)), "output")
            try:
                return cls(tuple(map(tuple, m.tolist())), ops)
            except ValueError:
                continue
        raise RuntimeError("NB101Cell.sample: no valid cell in 1000 draws.")
