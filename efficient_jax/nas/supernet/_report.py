"""Scoring searched NB201 supernets: batched supernet accuracy, the NB201 lookup of a selected cell
and the summary of many (method, seed) searches.

A DARTS-family search ends with a cell (argmax of α, or perturbation selection, which needs the
supernet's accuracy under many edge weightings: :func:`make_accuracy_fn`); the cell is scored by
its real NAS-Bench-201 accuracy (:func:`nb201_lookup`), and runs are summarised per method and
selection as mean ± std and the rate of collapse to parameter-free cells (DARTS-V1 in NB201 ends
at the all-skip cell, 54.30% CIFAR-10 test accuracy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.nas.spaces import NB201_OPS, NB201Cell

SELECTIONS = ("argmax", "perturbation")
# NB201 cells whose edges are parameter-free (none/skip/pool) at least this often count as a
# "collapse" (DARTS-V1 in NB201 ends at the all-skip cell, 54.30% CIFAR-10 test accuracy).
COLLAPSE_MIN_PARAM_FREE = 4
_PARAM_FREE = ("none", "skip_connect", "avg_pool_3x3")


def make_accuracy_fn(model: Any, chunk: int = 250) -> Callable[..., jax.Array]:
    """``acc_fn(variables, weights (n, 6, 5), batch) -> (n,)`` accuracies of the supernet under
    each edge weighting (running BatchNorm statistics), ``chunk`` images per compiled call.

    Example:
        >>> import flax.linen as nn, jax, jax.numpy as jnp
        >>> from efficient_jax.nas.supernet import make_accuracy_fn
        >>> class Net(nn.Module):  # stands in for NB201Supernet: (x, (6, 5) edge weights)
        ...     @nn.compact
        ...     def __call__(self, x, w):
        ...         return nn.Dense(3)(x) * w[0, 0]
        >>> x = jnp.ones((4, 5))
        >>> v = Net().init(jax.random.key(0), x, jnp.full((6, 5), 0.2))
        >>> acc = make_accuracy_fn(Net(), chunk=2)(v, jnp.full((3, 6, 5), 0.2),
        ...                                        {"image": x, "label": jnp.zeros(4, jnp.int32)})
        >>> acc.shape
        (3,)
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}.")

    @jax.jit
    def correct(variables, ws, x, y):
        logits = jax.vmap(lambda w: model.apply(variables, x, w))(ws)
        return jnp.sum(jnp.argmax(logits, -1) == y[None], axis=-1)

    def acc_fn(variables, ws, batch):
        n = len(batch["label"])
        tot = jnp.zeros(ws.shape[0], jnp.int32)
        for i in range(0, n, chunk):
            sl = slice(i, i + chunk)
            tot = tot + correct(variables, ws, batch["image"][sl], batch["label"][sl])
        return tot / n

    return acc_fn


def nb201_lookup(table: Any, cell: NB201Cell) -> dict[str, Any]:
    """The cell's NB201 CIFAR-10 200-epoch accuracies (``test_acc``, ``valid_acc``), its number of
    parameter-free edges and whether that makes it a collapse (``>= COLLAPSE_MIN_PARAM_FREE``).

    ``table``: an NB201 :class:`~efficient_jax.nas.benchmarks.Table` (``load_nb201``).

    Raises:
      ValueError: if the cell is not in the table.

    Example:
        >>> import numpy as np
        >>> from efficient_jax.nas.benchmarks import Table
        >>> from efficient_jax.nas.spaces import NB201Cell
        >>> from efficient_jax.nas.supernet import nb201_lookup
        >>> cell = NB201Cell((1,) * 6)
        >>> t = Table(np.arange(1), (cell.to_str(),),
        ...           {"test_acc_200ep": np.array([54.3]), "valid_acc_200ep": np.array([50.0])})
        >>> r = nb201_lookup(t, cell)
        >>> r["test_acc"], r["param_free_edges"], r["collapse"]
        (54.3, 6, True)
    """
    try:
        row = table.arch.index(cell.to_str())
    except ValueError as e:
        raise ValueError(f"cell {cell.to_str()} is not in the NB201 table.") from e
    n_free = sum(NB201_OPS[o] in _PARAM_FREE for o in cell.ops)
    return {
        "arch": cell.to_str(),
        "test_acc": float(table.column("test_acc_200ep")[row]),
        "valid_acc": float(table.column("valid_acc_200ep")[row]),
        "param_free_edges": int(n_free),
        "collapse": bool(n_free >= COLLAPSE_MIN_PARAM_FREE),
    }


def summarize_searches(runs: Sequence[Mapping[str, Any]], table: Any) -> dict[str, float]:
    """Flat figures over search runs ``{"method", "seconds", <selection>: nb201_lookup(...)}``.

    Per method and selection: ``<method>/<selection>/test_acc_mean``, ``…_std``,
    ``…/collapse_rate`` and ``…/runs``; per method ``<method>/seconds_mean``; and the table's
    ``nb201_mean_test_acc`` / ``nb201_best_test_acc`` for reference.

    Example:
        >>> import numpy as np
        >>> from efficient_jax.nas.benchmarks import Table
        >>> from efficient_jax.nas.supernet import summarize_searches
        >>> t = Table(np.arange(2), ("a", "b"), {"test_acc_200ep": np.array([50.0, 90.0])})
        >>> runs = [{"method": "darts", "seconds": 2.0,
        ...          "argmax": {"test_acc": a, "collapse": a < 60}} for a in (50.0, 90.0)]
        >>> s = summarize_searches(runs, t)
        >>> s["darts/argmax/test_acc_mean"], s["darts/argmax/collapse_rate"], s["darts/argmax/runs"]
        (70.0, 0.5, 2)
    """
    res: dict[str, float] = {}
    test = table.column("test_acc_200ep")
    res["nb201_mean_test_acc"] = float(np.nanmean(test))
    res["nb201_best_test_acc"] = float(np.nanmax(test))
    for method in sorted({r["method"] for r in runs}):
        rs = [r for r in runs if r["method"] == method]
        for sel in SELECTIONS:
            vals = [r[sel]["test_acc"] for r in rs if sel in r]
            if not vals:
                continue
            res[f"{method}/{sel}/test_acc_mean"] = float(np.mean(vals))
            res[f"{method}/{sel}/test_acc_std"] = float(np.std(vals))
            res[f"{method}/{sel}/collapse_rate"] = float(np.mean([r[sel]["collapse"] for r in rs]))
            res[f"{method}/{sel}/runs"] = len(vals)
        res[f"{method}/seconds_mean"] = float(np.mean([r["seconds"] for r in rs]))
    return res
