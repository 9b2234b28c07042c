"""Zero-cost proxies on NAS-Bench-201 (CIFAR-10) through the masked NB201 supernet.

Command:
  python -m efficient_jax.main --config=configs/zero_cost_nb201.py --workdir=/tmp/ej_zc
  python -m efficient_jax.main --config=configs/zero_cost_nb201.py:cells=all,proxies=synflow \
      --workdir=/tmp/ej_zc_all
  python -m efficient_jax.main --config=configs/zero_cost_nb201.py:runlocal --workdir=/tmp/ej_zc_l

Protocol (NASLib): one batch of 64 CIFAR-10 training images, NB201 network C=16, N=5 at random
initialisation (one supernet init shared by all cells), per-proxy conventions as NASLib. Default:
the 725-cell NASLib sample (``cells=sample``), Kendall τ with ``val_acc_200ep`` next to NASLib's τ
of the same file. ``cells=all``: the 15,625 cells, τ with ``test_acc_200ep``.
Expected (docs/results_proxies_aps.md): synflow τ 0.53 on the sample (NASLib 0.54);
synflow costs ~0.15 s per cell on the shared 2-core CPU (one compilation, ~1 min), so all 15,625
cells take ~40 min there. The batch-64 proxies cost 1–3 s per cell on that CPU (use ``limit``).
`runlocal`: synflow, snip and l2_norm on 24 sample cells, ~5–15 min on the shared CPU (compiles).
"""

import ml_collections

from efficient_jax.core import parse_arg

_ALL = (
    "synflow",
    "snip",
    "grad_norm",
    "l2_norm",
    "plain",
    "grasp",
    "fisher",
    "jacov",
    "nwot",
    "gradsign",
    "ntk_cond",
)


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, cells="sample", proxies="", limit=0)
    config = ml_collections.ConfigDict()
    config.trainer = "zero_cost"
    config.seed = 0
    config.data_dir = ""
    config.cells = arg["cells"]  # "sample" (725 NASLib cells) or "all" (15,625)
    config.accuracy_column = "test_acc_200ep"  # for cells=all
    config.limit = arg["limit"]  # 0 = every cell of the set; n = a fixed random subset of n
    config.proxies = tuple(arg["proxies"].split("+")) if arg["proxies"] else _ALL
    config.batch_size = 64
    config.channels = 16
    config.cells_per_stage = 5
    config.chunk_size = 8
    config.progress = True
    if arg["runlocal"]:
        config.limit = arg["limit"] or 24
        config.proxies = (
            tuple(arg["proxies"].split("+")) if arg["proxies"] else ("synflow", "snip", "l2_norm")
        )
        config.chunk_size = 4
    return config
