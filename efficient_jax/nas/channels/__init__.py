"""Channel-number search with affine parameter sharing (APS-I / APS-O / APS-T).

Bai, "Network Compression and Architecture Search in Deep Learning", PhD thesis, CUHK 2021, Ch. 6
(spec 001 §5): candidate kernels ``(Q^i)ᵀ W P^o`` from one meta-weight, the sharing level Φ,
its annealing by projected gradient descent, an LSTM controller trained by REINFORCE with the
MnasNet FLOPs reward, and beam search for the final widths. The whole search (Algorithm 4) is
:func:`run_search` (step functions: :func:`make_search_steps`; state: :func:`init_search`;
checkpoint hooks ``restore_fn``/``checkpoint_fn``), the training of the searched child
:func:`train_child`.

Example:
    >>> from efficient_jax.nas.channels import init_transforms, sharing_level
    >>> import jax.numpy as jnp
    >>> o = init_transforms("ordinal", 6, (2, 4))
    >>> i = init_transforms("independent", 6, (2, 4))
    >>> one = jnp.eye(1)[None]
    >>> float(sharing_level(one, o)), float(sharing_level(one, i))
    (8.0, 6.0)
"""

from efficient_jax.nas.channels._child import init_supernet, train_child
from efficient_jax.nas.channels._controller import (
    Controller,
    beam_search,
    mnasnet_reward,
    sample_actions,
    sequence_logprob,
)
from efficient_jax.nas.channels._resnet import (
    APSResNet,
    ChannelResNet,
    block_layout,
    candidate_widths,
    choices_to_widths,
    resnet_macs,
    uniform_widths,
)
from efficient_jax.nas.channels._run import (
    APSSearchConfig,
    SearchResult,
    SearchSteps,
    init_search,
    make_search_steps,
    run_search,
)
from efficient_jax.nas.channels._search import (
    APSSpace,
    extract_child,
    init_aps_transforms,
    init_from_pretrained,
    make_space,
    network_sharing_level,
    pick_architecture,
    within_budget,
)
from efficient_jax.nas.channels._sharing import (
    APS_STRATEGIES,
    anneal_step,
    column_mask,
    gram_norms,
    init_transforms,
    monte_carlo_sharing,
    normalize_columns,
    pair_sharing,
    sharing_level,
)

__all__ = [
    "APSResNet",
    "APSSearchConfig",
    "APSSpace",
    "APS_STRATEGIES",
    "ChannelResNet",
    "Controller",
    "SearchResult",
    "SearchSteps",
    "anneal_step",
    "beam_search",
    "block_layout",
    "candidate_widths",
    "choices_to_widths",
    "column_mask",
    "extract_child",
    "gram_norms",
    "init_aps_transforms",
    "init_from_pretrained",
    "init_search",
    "init_supernet",
    "init_transforms",
    "make_search_steps",
    "make_space",
    "mnasnet_reward",
    "monte_carlo_sharing",
    "network_sharing_level",
    "normalize_columns",
    "pair_sharing",
    "pick_architecture",
    "within_budget",
    "resnet_macs",
    "run_search",
    "sample_actions",
    "sequence_logprob",
    "sharing_level",
    "train_child",
    "uniform_widths",
]
