"""APS channel-number search on CIFAR-10 ResNet-20 (Bai thesis Ch. 6, Algorithm 4, Table 6.1).

Command:
  python -m efficient_jax.main --config=configs/aps_resnet20_cifar10.py --workdir=/tmp/ej_aps
  python -m efficient_jax.main --config=configs/aps_resnet20_cifar10.py:runlocal \
      --workdir=/tmp/ej_aps_local

Expected (thesis Table 6.2, ResNet-20 at ~50% FLOPs): APS-T 92.02% at 20.6M FLOPs (−49.6%),
APS-O 91.61% at 19.1M, APS-I 91.24% at 21.5M (searched and trained from scratch, 600 search
epochs on a P40, 6.9 h). Full settings here: 600 search epochs (200 warm-up) at batch 256,
P/Q lr 1e-3, controller lr 1.6e-4, entropy 4e-3, FLOPs penalty (0, −0.1); for a GPU.
`runlocal` (CPU, ~40 min on the shared, heavily loaded 2-core machine; docs/RESULTS.md):
starts from the pretrained ResNet-20, 100 warm-up + 100 search steps at batch 64 per strategy, then
200 fine-tuning steps of the child, test on 2,000 images: a smoke-scale run, not a reproduction.
Search space: inner width of each of the 9 basic blocks from {0.25, 0.5, 0.75, 1.0} × stage width
(stage widths fixed; the thesis also searches them); meta width c = Σ candidates per block.
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, strategies="transition+ordinal+independent")
    config = ml_collections.ConfigDict()
    config.trainer = "aps"
    config.seed = 0
    config.data_dir = ""
    config.depth = 20
    config.width_ratios = (0.25, 0.5, 0.75, 1.0)
    config.strategies = tuple(arg["strategies"].split("+"))
    config.target_macs = 0.0  # 0 = target_ratio × full ResNet MACs
    config.target_ratio = 0.504  # 20.6M / 40.8M in the thesis
    config.init_from_pytorch = ""  # thesis: search from scratch
    config.val_size = 5000  # held-out training images for the controller reward
    # Supernet weights W (Table 6.1, ResNet-20): SGD momentum 0.9, lr 0.1 stepwise, wd 2e-4.
    steps_per_epoch = 45000 // 256
    config.batch_size = 256
    config.val_batch_size = 256
    config.eval_batch_size = 500
    config.learning_rate = 0.1
    config.weight_decay = 2e-4
    config.warmup_steps = 200 * steps_per_epoch
    config.search_steps = 400 * steps_per_epoch
    # Transforms P, Q (APS-T): projected GD, lr τ = 1e-3, alternating P/Q every 10 steps.
    config.transform_lr = 1e-3
    config.transform_alternate = 10
    config.transform_noise = 1e-2
    # Controller: 2-layer LSTM, REINFORCE, Adam lr 1.6e-4, entropy 4e-3, reward (α, β) = (0, −0.1).
    config.controller_hidden = 64
    config.controller_lr = 1.6e-4
    config.entropy_weight = 4e-3
    config.controller_every = 1
    config.controller_samples = 4
    config.baseline_decay = 0.95
    config.reward_alpha = 0.0
    config.reward_beta = -0.1
    config.beam = 5
    config.constrained_beam = True  # beam only over prefixes that can meet the target
    config.budget_slack = 0.02  # ... within +2% of it
    # Training of the searched widths (thesis: from scratch with the default recipe).
    config.finetune_steps = 64000
    config.finetune_lr = 0.1
    config.test_limit = 0
    config.baseline_uniform = True
    config.log_every = 100
    config.checkpoint_every = 1000  # orbax checkpoints of search and child training; reruns resume
    if arg["runlocal"]:
        config.init_from_pytorch = "{data_dir}/weights/resnet20-12fca82f.npz"
        config.batch_size = 64
        config.val_batch_size = 128
        config.warmup_steps = 100
        config.search_steps = 100
        config.learning_rate = 0.02
        config.controller_lr = 3e-3  # 150 steps instead of ~70k: a larger step to move at all
        config.transform_lr = 1e-2
        config.controller_every = 2
        config.finetune_steps = 200
        config.finetune_lr = 0.02
        config.test_limit = 2000
        config.log_every = 25
        config.checkpoint_every = 50
    return config
