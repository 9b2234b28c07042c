"""The NAS-Bench-201 network: one supernet with a static-shape (6, 5) op mask, and the discrete net.

The macro skeleton follows Dong & Yang, "NAS-Bench-201", ICLR 2020 (``TinyNetwork`` in the
reference code): a 3×3 conv stem + BN, three stages of ``cells_per_stage`` cells with ``C``, ``2C``
and ``4C`` channels, a residual reduction block (ReLU-conv3×3/2-BN, ReLU-conv3×3-BN, shortcut
avg-pool 2×2 + conv1×1) between stages, then BN-ReLU, global average pool and a dense head. A cell
is a 4-node DAG: ``node_j = Σ_{i<j} edge_ij(node_i)`` and the cell output is node 3.

The supernet is DARTS' continuous relaxation (Bai thesis Ch. 2, Eq. 2.19; Liu et al. 2019 Eq. 1):
every edge computes ``Σ_o w[e, o] · o(x)`` with one set of weights for all candidate ops.
``arch_weights`` is an *input* of ``__call__``, shared by all cells, so a one-hot mask is a discrete
architecture: one compiled function evaluates any of the 15,625 cells and ``jax.vmap`` over masks
evaluates many.
:class:`NB201Network` is the discrete network of one :class:`NB201Cell`; its parameter tree is a
subset of the supernet's (same paths), so supernet variables apply to it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.nas.spaces import NB201_EDGES, NB201_OPS, NB201Cell

_BN_EPS = 1e-5
_BN_MOMENTUM = 0.9
_MASK_SHAPE = (len(NB201_EDGES), len(NB201_OPS))
CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")
_kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


# -- masks <-> cells --------------------------------------------------------------------------
def _check_mask_shape(mask: jax.Array | np.ndarray, what: str = "mask") -> None:
    if tuple(np.shape(mask)) != _MASK_SHAPE:
        raise ValueError(
            f"{what} must have shape {_MASK_SHAPE} (edges {NB201_EDGES} × ops {NB201_OPS}), "
            f"got {tuple(np.shape(mask))}."
        )


def is_one_hot(mask) -> bool:
    """Whether a concrete (6, 5) array has exactly one 1 per row and 0 elsewhere."""
    _check_mask_shape(mask)
    m = np.asarray(mask, np.float64)
    return bool(np.all((m == 0) | (m == 1)) and np.all(m.sum(axis=1) == 1))


def cell_to_mask(cell: NB201Cell) -> jax.Array:
    """The (6, 5) float32 one-hot mask of a cell (rows: ``NB201_EDGES``, columns: ``NB201_OPS``).

    Example:
        >>> from efficient_jax.nas.spaces import NB201Cell
        >>> cell_to_mask(NB201Cell((3, 3, 1, 0, 2, 4))).argmax(-1).tolist()
        [3, 3, 1, 0, 2, 4]
    """
    if not isinstance(cell, NB201Cell):
        raise ValueError(f"cell_to_mask needs an NB201Cell, got {type(cell).__name__}.")
    return jax.nn.one_hot(jnp.asarray(cell.ops), len(NB201_OPS), dtype=jnp.float32)


def cells_to_masks(cells: Sequence[NB201Cell]) -> jax.Array:
    """``(n, 6, 5)`` stacked one-hot masks, for ``jax.vmap`` over architectures."""
    if len(cells) == 0:
        raise ValueError("cells_to_masks needs at least one cell.")
    for c in cells:
        if not isinstance(c, NB201Cell):
            raise ValueError(f"cells_to_masks needs NB201Cells, got {type(c).__name__}.")
    ops = np.array([c.ops for c in cells], np.int32)
    return jax.nn.one_hot(jnp.asarray(ops), len(NB201_OPS), dtype=jnp.float32)


def mask_to_cell(mask, *, require_one_hot: bool = True) -> NB201Cell:
    """The cell of a (6, 5) mask by per-edge argmax.

    Args:
      mask: a concrete (6, 5) array (one-hot mask, or architecture logits/weights).
      require_one_hot: if True (default) the mask must be one-hot; pass False to discretise
        continuous α by argmax (DARTS' selection rule).

    Raises:
      ValueError: wrong shape, non-finite values, or (with ``require_one_hot``) a mask that is not
        one-hot.

    Example:
        >>> import jax.numpy as jnp
        >>> mask_to_cell(jnp.eye(5)[jnp.array([1, 1, 1, 1, 1, 1])]).to_str()
        '|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|'
    """
    _check_mask_shape(mask)
    m = np.asarray(mask, np.float64)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"mask has non-finite entries: {m.tolist()}.")
    if require_one_hot and not is_one_hot(m):
        raise ValueError(
            "mask must be one-hot (exactly one 1 per edge row, 0 elsewhere); got "
            f"{m.tolist()}. Pass require_one_hot=False to discretise architecture weights by "
            "argmax."
        )
    return NB201Cell(tuple(int(i) for i in m.argmax(axis=1)))


# -- building blocks --------------------------------------------------------------------------
def _batch_norm(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(
        use_running_average=not train, momentum=_BN_MOMENTUM, epsilon=_BN_EPS, name=name
    )


def avg_pool_3x3(x: jax.Array) -> jax.Array:
    """3×3 / stride-1 average pool with ``count_include_pad=False`` (NB201's ``avg_pool_3x3``)."""
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding="SAME", count_include_pad=False)


class ReLUConvBN(nn.Module):
    """ReLU → Conv(k×k, no bias) → BN, NB201's ``nor_conv_kxk``."""

    features: int
    kernel_size: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        p = self.kernel_size // 2
        y = nn.Conv(
            self.features,
            (self.kernel_size, self.kernel_size),
            strides=(self.stride, self.stride),
            padding=((p, p), (p, p)),
            use_bias=False,
            kernel_init=_kaiming_normal,
            name="conv",
        )(nn.relu(x))
        return _batch_norm(train, "bn")(y)


class ResidualReduction(nn.Module):
    """NB201's ``ResNetBasicblock`` with stride 2: ``conv_b(conv_a(x)) + conv1×1(avgpool2(x))``."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        y = ReLUConvBN(self.features, 3, stride=2, name="conv_a")(x, train)
        y = ReLUConvBN(self.features, 3, name="conv_b")(y, train)
        s = nn.avg_pool(x, (2, 2), strides=(2, 2))
        s = nn.Conv(
            self.features, (1, 1), use_bias=False, kernel_init=_kaiming_normal, name="shortcut"
        )(s)
        return y + s


class MixedEdge(nn.Module):
    """One supernet edge: ``Σ_o w[o] · o(x)`` over ``NB201_OPS`` (DARTS Eq. 1)."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array, w: jax.Array, train: bool = False) -> jax.Array:
        outs = (
            jnp.zeros_like(x),
            x,
            ReLUConvBN(self.features, 1, name="nor_conv_1x1")(x, train),
            ReLUConvBN(self.features, 3, name="nor_conv_3x3")(x, train),
            avg_pool_3x3(x),
        )
        return sum(w[o].astype(x.dtype) * y for o, y in enumerate(outs))


class DiscreteEdge(nn.Module):
    """One edge of the discrete network: only op ``op`` (same parameter path as in MixedEdge)."""

    features: int
    op: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        name = NB201_OPS[self.op]
        if name == "none":
            return jnp.zeros_like(x)
        if name == "skip_connect":
            return x
        if name == "avg_pool_3x3":
            return avg_pool_3x3(x)
        return ReLUConvBN(self.features, 1 if name == "nor_conv_1x1" else 3, name=name)(x, train)


def _edge_name(e: int) -> str:
    i, j = NB201_EDGES[e]
    return f"edge_{i}_{j}"


def _run_cell(edge_fn, x: jax.Array) -> jax.Array:
    nodes = [x]
    for j in range(1, 4):
        nodes.append(sum(edge_fn(e, nodes[i]) for e, (i, jj) in enumerate(NB201_EDGES) if jj == j))
    return nodes[3]


class SearchCell(nn.Module):
    """The NB201 cell with mixed edges; ``arch_weights`` (6, 5) weighs each edge's ops."""

    features: int
    edge_cls: type[nn.Module] = MixedEdge

    @nn.compact
    def __call__(self, x: jax.Array, arch_weights: jax.Array, train: bool = False) -> jax.Array:
        edges = [self.edge_cls(self.features, name=_edge_name(e)) for e in range(6)]
        return _run_cell(lambda e, h: edges[e](h, arch_weights[e], train), x)


class DiscreteCell(nn.Module):
    """The NB201 cell of one architecture."""

    features: int
    ops: tuple[int, ...]

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        edges = [
            DiscreteEdge(self.features, op, name=_edge_name(e)) for e, op in enumerate(self.ops)
        ]
        return _run_cell(lambda e, h: edges[e](h, train), x)


def _check_macro(num_classes: int, channels: int, cells_per_stage: int) -> None:
    for name, v in (("num_classes", num_classes), ("channels", channels)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v}.")
    if int(cells_per_stage) < 1:
        raise ValueError(f"cells_per_stage must be >= 1, got {cells_per_stage}.")


def _macro(module: nn.Module, x: jax.Array, cell_fn, train: bool) -> jax.Array:
    """Stem → [N cells, reduction] × 2 → N cells → BN-ReLU → pool → dense; cells named cell_k."""
    if x.ndim != 4:
        raise ValueError(f"NB201 networks take NHWC images, got shape {x.shape}.")
    c, n = module.channels, module.cells_per_stage
    x = nn.Conv(c, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="stem_conv")(x)
    x = _batch_norm(train, "stem_bn")(x)
    k = 0
    for stage, width in enumerate((c, 2 * c, 4 * c)):
        if stage > 0:
            x = ResidualReduction(width, name=f"cell_{k}")(x, train)
            k += 1
        for _ in range(n):
            x = cell_fn(width, f"cell_{k}", x)
            k += 1
    x = nn.relu(_batch_norm(train, "last_bn")(x))
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(module.num_classes, name="head")(x)


class NB201Supernet(nn.Module):
    """The NB201 supernet: every edge mixes all 5 ops with weights ``arch_weights[e]``.

    Attributes:
      num_classes: classifier outputs.
      channels: ``C``, the first stage's width (NB201 uses 16; stages have C, 2C, 4C).
      cells_per_stage: ``N`` (NB201 uses 5).
      edge_cls: the mixed-edge module (``MixedEdge``; TangleNAS passes ``EntangledEdge``).

    ``arch_weights`` is a (6, 5) array shared by all cells (rows ``NB201_EDGES``, columns
    ``NB201_OPS``): softmax(α) for DARTS, a Gumbel sample for GDAS, a one-hot mask for a discrete
    architecture. BatchNorm statistics live in the ``batch_stats`` collection.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.nas.spaces import NB201Cell
        >>> net = NB201Supernet(num_classes=10, channels=4, cells_per_stage=1)
        >>> x = jnp.ones((2, 8, 8, 3))
        >>> v = net.init(jax.random.key(0), x, jnp.full((6, 5), 0.2))
        >>> net.apply(v, x, cell_to_mask(NB201Cell((3, 3, 1, 0, 2, 4)))).shape
        (2, 10)
    """

    num_classes: int = 10
    channels: int = 16
    cells_per_stage: int = 5
    edge_cls: type[nn.Module] = MixedEdge

    @nn.compact
    def __call__(self, x: jax.Array, arch_weights: jax.Array, train: bool = False) -> jax.Array:
        _check_macro(self.num_classes, self.channels, self.cells_per_stage)
        _check_mask_shape(arch_weights, "arch_weights")
        return _macro(
            self,
            x,
            lambda w, name, h: SearchCell(w, self.edge_cls, name=name)(h, arch_weights, train),
            train,
        )


class NB201Network(nn.Module):
    """The discrete NB201 network of ``cell``; parameter paths are a subset of the supernet's.

    Supernet variables (``NB201Supernet.init``) apply unchanged (unused entries are ignored), or
    :func:`subnet_variables` cuts them to exactly this network's tree.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.nas.spaces import NB201Cell
        >>> cell = NB201Cell((3, 3, 1, 0, 2, 4))
        >>> sup = NB201Supernet(channels=4, cells_per_stage=1)
        >>> x = jnp.ones((2, 8, 8, 3))
        >>> v = sup.init(jax.random.key(0), x, cell_to_mask(cell))
        >>> net = NB201Network(cell, channels=4, cells_per_stage=1)
        >>> bool(jnp.allclose(net.apply(v, x), sup.apply(v, x, cell_to_mask(cell)), atol=1e-5))
        True
    """

    cell: NB201Cell
    num_classes: int = 10
    channels: int = 16
    cells_per_stage: int = 5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if not isinstance(self.cell, NB201Cell):
            raise ValueError(f"NB201Network.cell must be an NB201Cell, got {self.cell!r}.")
        _check_macro(self.num_classes, self.channels, self.cells_per_stage)
        ops = self.cell.ops
        return _macro(self, x, lambda w, name, h: DiscreteCell(w, ops, name=name)(h, train), train)


def subnet_variables(
    variables,
    cell: NB201Cell,
    *,
    num_classes: int,
    channels: int,
    cells_per_stage: int,
    input_shape=(1, 32, 32, 3),
):
    """Supernet variables cut down to the tree of ``NB201Network(cell, ...)`` (same leaves).

    Collections absent from ``variables`` (e.g. only ``batch_stats`` given) are left out.

    Raises:
      ValueError: if the supernet variables lack an entry the discrete network needs.
    """
    net = NB201Network(cell, num_classes, channels, cells_per_stage)
    shapes = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros(input_shape, jnp.float32))

    def take(tree, ref, path):
        if not isinstance(ref, dict) and not hasattr(ref, "keys"):
            return tree
        out = {}
        for k in ref:
            if k not in tree:
                raise ValueError(f"supernet variables lack {'/'.join((*path, k))}.")
            out[k] = take(tree[k], ref[k], (*path, k))
        return out

    return {col: take(variables[col], shapes[col], (col,)) for col in shapes if col in variables}
