"""Cascades and ensembles of a pool of MLPs/LeNet-5 on the bundled digits (cheap CPU experiment).

Command:
  python -m efficient_jax.main --config=configs/cascades_digits.py --workdir=/tmp/ej_cascades_digits
CPU smoke variant (3 tiny members, 20 steps each):
  python -m efficient_jax.main --config=configs/cascades_digits.py:runlocal --workdir=/tmp/ej_cd_s
ResNet pool (the issue's ResNet-20/32/44/56 depth and width family, trained on CPU on digits;
4-model cascades searched):
  python -m efficient_jax.main --config=configs/cascades_digits.py:resnets \
      --workdir=/tmp/ej_cascades_digits_resnets

The pool: 1-hidden-layer MLPs of width 8…256 (a width-scaled family), a 2-layer MLP and LeNet-5,
each trained for 600 Adam steps on 898 digits; the 899 test digits are halved into a held-out
half (threshold search, model selection) and an evaluation half (reported numbers).
Expected: best single ≈ 97–98%; a 2–3-model cascade matches it at a fraction of its average
FLOPs, most examples exiting at stage 1. Runtime: ~2–3 min on 2 CPU cores.
"""

import ml_collections

from efficient_jax.core import parse_arg


def _mlp(name, widths, seed=0):
    return dict(
        name=name, model="mlp", model_kwargs=dict(features=widths, num_classes=10), seed=seed
    )


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, resnets=False)
    config = ml_collections.ConfigDict()
    config.trainer = "cascades"
    config.title = "digits: MLP/LeNet pool"
    config.seed = 0
    # Data: digits, half of it test; the test half is split again into held-out / evaluation.
    config.dataset = "digits"
    config.data_dir = ""
    config.data_seed = 0
    config.test_fraction = 0.5
    config.heldout_fraction = 0.5
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    # Pool members (trained in order; "base" derives a member from an earlier one).
    config.members = [
        _mlp("mlp8", (8,)),
        _mlp("mlp16", (16,)),
        _mlp("mlp32", (32,)),
        _mlp("mlp64", (64,)),
        _mlp("mlp128", (128,)),
        _mlp("mlp256", (256,)),
        _mlp("mlp256x2", (256, 256)),
        dict(name="lenet5", model="lenet5", model_kwargs=dict(num_classes=10)),
    ]
    # Training of each member (defaults; a member may override num_steps, seed, learning_rate).
    config.optimizer = "adam"
    config.learning_rate = 2e-3
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.grad_clip = 0.0
    config.batch_size = 64
    config.eval_batch_size = 512
    config.num_steps = 600
    config.log_every = 200
    config.eval_every = 0
    config.checkpoint_every = 600
    config.max_checkpoints = 1
    config.mesh_shape = None
    config.init_from_pytorch = ""
    # Cascade search: tuple length, grid candidates per stage (0 = default), confidence.
    config.max_models = 3
    config.grid_num = 0
    config.metric = "max_prob"
    config.combine = "logits"
    config.max_worst_flops = 0.0
    config.num_budgets = 16
    config.measure_latency = True
    config.latency_examples = 200
    if arg["resnets"]:
        config.title = "digits: ResNet depth/width pool"
        resnets = [
            dict(name=f"r{d}", model=f"resnet{d}", model_kwargs=dict(num_classes=10))
            for d in (20, 32, 44, 56)
        ]
        narrow = [
            dict(name=f"r20_w{w}", model="resnet20", model_kwargs=dict(num_classes=10, width=w))
            for w in (8, 4)
        ]
        config.members = resnets + narrow + [config.members[2], config.members[7]]
        config.max_models = 4
    if arg["runlocal"]:
        config.members = config.members[:2] + [config.members[4]]
        config.num_steps = 20
        config.log_every = 10
        config.checkpoint_every = 20
        config.max_models = 2
        config.num_budgets = 4
        config.latency_examples = 4
    return config
