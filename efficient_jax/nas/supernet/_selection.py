"""Architecture selection from a trained supernet: argmax of α, perturbation, per-op cost table.

References: DARTS/NB201 derive the cell by the per-edge argmax of α over all ops (NB201's
``genotype()`` includes ``none``). Wang et al., "Rethinking Architecture Selection in Differentiable
NAS", ICLR 2021 (spec 004 #4): α's size is not op strength; instead, edge by edge (random order),
remove each op from the mixed edge, measure the supernet's validation accuracy, keep the op whose
removal hurts most, and fix the edge to it (optionally tuning the supernet between edges).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.nas.spaces import NB201_EDGES, NB201_OPS, NB201Cell
from efficient_jax.nas.supernet._nb201 import NB201Network, _check_mask_shape, mask_to_cell


def select_argmax(alpha) -> NB201Cell:
    """DARTS' discretisation: the per-edge argmax of α (logits or weights).

    Example:
        >>> import jax.numpy as jnp
        >>> select_argmax(jnp.eye(5)[jnp.array([3, 3, 1, 0, 2, 4])] * 2.0).ops
        (3, 3, 1, 0, 2, 4)
    """
    return mask_to_cell(alpha, require_one_hot=False)


def select_by_perturbation(
    eval_fn: Callable[[jax.Array], jax.Array],
    weights: jax.Array,
    *,
    key: jax.Array | None = None,
    tune_fn: Callable[[jax.Array], None] | None = None,
) -> tuple[NB201Cell, dict]:
    """Perturbation-based selection (Wang et al. 2021, Algorithm 1).

    Args:
      eval_fn: maps a stack of architecture weights ``(n, 6, 5)`` to ``(n,)`` supernet validation
        accuracies (e.g. a jitted ``vmap`` of the supernet's eval over a held-out batch).
      weights: the relaxed architecture ``softmax(α)``, ``(6, 5)``.
      key: edge order (random permutation); None keeps ``NB201_EDGES`` order.
      tune_fn: called with the current weights after each edge is fixed (supernet fine-tuning
        between decisions, as in the paper); None skips tuning.

    Returns:
      ``(cell, info)``; ``info`` holds the edge ``order``, each edge's ``drops`` (accuracy of the
      unperturbed supernet minus accuracy with each op removed) and ``base_acc``.

    Raises:
      ValueError: weights of the wrong shape or not finite.
    """
    _check_mask_shape(weights, "weights")
    w = jnp.asarray(weights, jnp.float32)
    if not bool(jnp.all(jnp.isfinite(w))):
        raise ValueError("weights must be finite.")
    order = (
        list(range(len(NB201_EDGES)))
        if key is None
        else [int(i) for i in jax.random.permutation(key, len(NB201_EDGES))]
    )
    n_ops = len(NB201_OPS)
    drops = {}
    base_accs = []
    for e in order:
        removed = jnp.stack([w.at[e, o].set(0.0) for o in range(n_ops)])
        accs = np.asarray(eval_fn(jnp.concatenate([w[None], removed], axis=0)))
        base, accs = float(accs[0]), accs[1:]
        drop = base - accs
        best = int(np.argmax(drop))
        drops[e] = drop.tolist()
        base_accs.append(base)
        w = w.at[e].set(jax.nn.one_hot(best, n_ops, dtype=w.dtype))
        if tune_fn is not None:
            tune_fn(w)
    return mask_to_cell(w), {"order": order, "drops": drops, "base_acc": base_accs}


def nb201_op_cost_table(
    *, channels: int, cells_per_stage: int, image_size: int = 32, num_classes: int = 10
) -> np.ndarray:
    """FBNet-style per-op lookup table: MACs one edge adds per op, summed over all cells.

    Measured with :func:`efficient_jax.cost.macs` on the discrete networks whose 6 edges all use
    one op, minus the all-``none`` network, divided by 6. Parameter-free ops cost 0 MACs.

    Example:
        >>> t = nb201_op_cost_table(channels=4, cells_per_stage=1, image_size=8)
        >>> bool(t[3] == 9 * t[2]), float(t[0]), float(t[1])
        (True, 0.0, 0.0)
    """
    from efficient_jax.cost import macs

    x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)

    def total(op: int) -> int:
        net = NB201Network(NB201Cell((op,) * 6), num_classes, channels, cells_per_stage)
        variables = jax.eval_shape(net.init, jax.random.key(0), x)
        return macs(net.apply, variables, x).total

    base = total(0)
    return np.array([(total(o) - base) / 6.0 for o in range(len(NB201_OPS))], np.float64)
