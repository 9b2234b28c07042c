"""Cascades of MLPs on a 20-class Gaussian mixture: the spec's flagship cheap CPU experiment.

Command:
  python -m efficient_jax.main --config=configs/cascades_mixture.py --workdir=/tmp/ej_cascades_mix
CPU smoke variant:
  python -m efficient_jax.main --config=configs/cascades_mixture.py:runlocal --workdir=/tmp/ej_cm_s

Data (Wang 2022 spec §4.5): 20 classes × 4 overlapping unit-variance clusters in 64-D, 5% label
noise; 20,000 train, 15,000 test split into 5,000 held-out (thresholds, model selection) and
10,000 evaluation examples. Pool: 1-hidden-layer MLPs of width 16…512 × 2 seeds (12 models),
FLOPs 2·Σ fan_in·fan_out (counted by ``cost.macs``). Expected: accuracy grows with width up to
≈ 75%; a 2–3-model cascade matches the best single model at clearly fewer average FLOPs, most
examples exiting at stage 1. Runtime: ~5 min on 2 CPU cores.
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, max_models=3)
    config = ml_collections.ConfigDict()
    config.trainer = "cascades"
    config.title = "20-class Gaussian mixture: MLP pool"
    config.seed = 0
    # Data.
    config.dataset = "gaussian_mixture"
    config.data_dir = ""
    config.data_seed = 0
    config.num_train = 20_000
    config.num_test = 15_000
    config.mixture = ml_collections.ConfigDict(
        dict(num_classes=20, dim=64, clusters_per_class=4, spread=0.45, label_noise=0.05)
    )
    config.heldout_fraction = 1 / 3
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    # Pool: widths × seeds (different init and shuffling).
    config.members = [
        dict(
            name=f"mlp{w}_s{seed}",
            model="mlp",
            model_kwargs=dict(features=(w,), num_classes=20),
            seed=seed,
        )
        for w in (16, 32, 64, 128, 256, 512)
        for seed in (0, 1)
    ]
    # Training of each member.
    config.optimizer = "adam"
    config.learning_rate = 2e-3
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.grad_clip = 0.0
    config.batch_size = 128
    config.eval_batch_size = 2048
    config.num_steps = 3000
    config.log_every = 1000
    config.eval_every = 0
    config.checkpoint_every = 3000
    config.max_checkpoints = 1
    config.mesh_shape = None
    config.init_from_pytorch = ""
    # Cascade search.
    config.max_models = int(arg["max_models"])
    config.grid_num = 0
    config.metric = "max_prob"
    config.combine = "logits"
    config.max_worst_flops = 0.0
    config.num_budgets = 16
    config.measure_latency = True
    config.latency_examples = 200
    if arg["runlocal"]:
        config.num_train, config.num_test = 2_000, 1_500
        config.members = [config.members[i] for i in (0, 4, 8)]
        config.num_steps = 50
        config.log_every = 25
        config.checkpoint_every = 50
        config.max_models = 2
        config.num_budgets = 4
        config.latency_examples = 4
    return config
