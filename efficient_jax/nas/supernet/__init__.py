"""Supernets as masked pytrees: the NB201 supernet, DARTS-family search, weight entanglement.

One set of max-size weights; an architecture is a static-shape (6, 5) mask passed as an *input*,
so one compiled function evaluates any of the 15,625 NB201 cells and ``jax.vmap`` evaluates many.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.nas.spaces import NB201Cell
    >>> from efficient_jax.nas.supernet import NB201Supernet, cell_to_mask, cells_to_masks
    >>> net = NB201Supernet(channels=4, cells_per_stage=1)
    >>> x = jnp.ones((2, 8, 8, 3))
    >>> v = net.init(jax.random.key(0), x, jnp.full((6, 5), 0.2))
    >>> masks = cells_to_masks([NB201Cell((3,) * 6), NB201Cell((1, 2, 3, 4, 0, 1))])
    >>> jax.vmap(lambda m: net.apply(v, x, m))(masks).shape
    (2, 2, 10)
"""

from efficient_jax.nas.supernet._darts import (
    SEARCH_METHODS,
    SearchSpec,
    arch_labels,
    darts_optimizer,
    darts_search_optimizer,
    expected_cost,
    init_alpha,
    init_search_state,
    make_search_step,
)
from efficient_jax.nas.supernet._entangle import (
    EntangledConv,
    EntangledEdge,
    channel_masks,
    entangled_kernel,
    entangled_to_network_variables,
    kernel_size_masks,
)
from efficient_jax.nas.supernet._gdas import gumbel_softmax, tau_schedule
from efficient_jax.nas.supernet._nb201 import (
    CONV_OPS,
    DiscreteCell,
    DiscreteEdge,
    MixedEdge,
    NB201Network,
    NB201Supernet,
    ReLUConvBN,
    ResidualReduction,
    SearchCell,
    avg_pool_3x3,
    cell_to_mask,
    cells_to_masks,
    is_one_hot,
    mask_to_cell,
    subnet_variables,
)
from efficient_jax.nas.supernet._neighbours import (
    PERTURBATIONS,
    neighbour_weights,
    perturb_weights,
)
from efficient_jax.nas.supernet._report import (
    COLLAPSE_MIN_PARAM_FREE,
    SELECTIONS,
    make_accuracy_fn,
    nb201_lookup,
    summarize_searches,
)
from efficient_jax.nas.supernet._selection import (
    nb201_op_cost_table,
    select_argmax,
    select_by_perturbation,
)

__all__ = [
    "COLLAPSE_MIN_PARAM_FREE",
    "CONV_OPS",
    "PERTURBATIONS",
    "SEARCH_METHODS",
    "SELECTIONS",
    "DiscreteCell",
    "DiscreteEdge",
    "EntangledConv",
    "EntangledEdge",
    "MixedEdge",
    "NB201Network",
    "NB201Supernet",
    "ReLUConvBN",
    "ResidualReduction",
    "SearchCell",
    "SearchSpec",
    "arch_labels",
    "avg_pool_3x3",
    "cell_to_mask",
    "cells_to_masks",
    "channel_masks",
    "darts_optimizer",
    "darts_search_optimizer",
    "entangled_kernel",
    "entangled_to_network_variables",
    "expected_cost",
    "gumbel_softmax",
    "init_alpha",
    "init_search_state",
    "is_one_hot",
    "kernel_size_masks",
    "make_accuracy_fn",
    "make_search_step",
    "mask_to_cell",
    "nb201_lookup",
    "nb201_op_cost_table",
    "neighbour_weights",
    "perturb_weights",
    "select_argmax",
    "select_by_perturbation",
    "subnet_variables",
    "summarize_searches",
    "tau_schedule",
]
