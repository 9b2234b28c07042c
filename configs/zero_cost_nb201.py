"""Zero-cost proxies on NAS-Bench-201 (CIFAR-10) through the masked NB201 supernet.

Command:
  python -m efficient_jax.main --config=configs/zero_cost_nb201.py --workdir=/tmp/ej_zc
  python -m efficient_jax.main --config=configs/zero_cost_nb201.py:cells=all,proxies=synflow \
      --workdir=/tmp/ej_zc_all
  python -m efficient_jax.main --config=configs/zero_cost_nb201.py:runlocal --workdir=/tmp/ej_zc_l

Protocol (NASLib): one batch of 64 CIFAR-10 training images, NB201 network C=16, N=5 at PyTorch's
default initialisation (one draw shared by all cells; ``--config.init_per_cell=True`` draws one per
cell as NASLib does), per-proxy conventions as NASLib. Default:
the 725-cell NASLib sample (``cells=sample``) and the nine proxies NASLib's file has, Kendall τ
with ``val_acc_200ep`` next to NASLib's τ of the same file. ``cells=all``: the 15,625 cells, τ with
``test_acc_200ep``. ``gradsign`` and ``ntk_cond`` (per-sample gradients / full Jacobians, far
costlier) are opt-in: ``proxies=gradsign+ntk_cond``. On a 2-core CPU gradsign costs ~6 s per
cell; ntk_cond needs one backward pass per image (67 s per cell at ``--config.batch_size=16``;
batch 64 costs roughly 16× that: 4× the rows, each 4× larger). ``plain`` and ``grasp`` depend
on the random draw of the classifier and shortcut weights: ``--config.init_per_cell=True``
matches NASLib's τ for them.
Expected (docs/RESULTS.md): synflow τ 0.536 on the sample (NASLib 0.537); synflow costs
~0.09 s per cell on an idle 2-core CPU (activation form, float64, one ~25 s compilation), so all
15,625 cells take ~23 min. The batch-64 proxies in one pass cost ~9 s per cell on that CPU without
grasp and ~24 s with it (use ``limit``). Scores are checkpointed every ``checkpoint_every``
cells; rerun the same command to resume.
`runlocal`: synflow, snip and l2_norm on 24 sample cells, ~3–10 min on a 2-core CPU (compiles).
"""

import ml_collections

from efficient_jax.core import parse_arg

# the nine proxies NASLib's zero-cost file scores (gradsign and ntk_cond are opt-in)
_NASLIB = ("synflow", "snip", "grad_norm", "l2_norm", "plain", "grasp", "fisher", "jacov", "nwot")


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, cells="sample", proxies="", limit=0)
    config = ml_collections.ConfigDict()
    config.trainer = "zero_cost"
    config.seed = 0
    config.data_dir = ""
    config.cells = arg["cells"]  # "sample" (725 NASLib cells) or "all" (15,625)
    config.accuracy_column = "test_acc_200ep"  # for cells=all
    config.limit = arg["limit"]  # 0 = every cell of the set; n = a fixed random subset of n
    config.proxies = tuple(arg["proxies"].split("+")) if arg["proxies"] else _NASLIB
    config.batch_size = 64
    # NASLib scores each cell at PyTorch's default init (U(±1/√fan_in) weights and biases);
    # "flax": the supernet's own initialisers (Kaiming normal convs, zero biases)
    config.init = "torch"
    # NASLib initialises each architecture afresh; False: one initialisation shared by all cells
    config.init_per_cell = False
    config.channels = 16
    config.cells_per_stage = 5
    # masks per compiled call for the batch-64 proxies: 1, because under vmap the per-mask weight
    # gradients become batched-kernel convolutions, 2x slower per cell on XLA:CPU (RESULTS.md)
    config.chunk_size = 1
    config.synflow_chunk_size = 32
    config.one_pass = True  # the batch-64 proxies together in one compiled pass
    config.checkpoint_every = 1024  # cells between orbax checkpoints of the scores
    config.progress = True
    if arg["runlocal"]:
        config.limit = arg["limit"] or 24
        config.proxies = (
            tuple(arg["proxies"].split("+")) if arg["proxies"] else ("synflow", "snip", "l2_norm")
        )
    return config
