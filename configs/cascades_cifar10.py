"""Cascades on CIFAR-10 (JPEG): pretrained ResNet-20, its self-cascade, int4 weights, LeNet-5s.

Command (CPU, the recorded run):
  python -m efficient_jax.main --config=configs/cascades_cifar10.py --workdir=/tmp/ej_cascades_c10
GPU variant (also trains ResNet-32/44/56 with the full 64k-step schedule):
  python -m efficient_jax.main --config=configs/cascades_cifar10.py:gpu --workdir=/tmp/ej_casc_gpu
CPU smoke variant (1k test images, tiny training):
  python -m efficient_jax.main --config=configs/cascades_cifar10.py:runlocal --workdir=/tmp/ej_cc_s

Pool (CPU): ``r20`` the pretrained ResNet-20 (81.03% on the JPEG test set; no training);
``r20_{28,24,20,16}px`` the same network on bilinearly downsampled inputs (a resolution-scaled
family and self-cascade stages: 0.77/0.56/0.39/0.25x the FLOPs); ``r20_int4`` its int4
per-channel weights (``quant.quantize_weights``; same FLOPs, a compressed stage); two LeNet-5s
trained from scratch for a few minutes (different seeds; ~3% of ResNet-20's FLOPs). The 10k
test images are halved into held-out (selection) and evaluation halves. Expected: cascades
match the best single model at fewer average FLOPs (modest: the pool has one strong network).
Runtime: ~15 min on 2 CPU cores (mostly LeNet training and ResNet-20 logits).
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, gpu=False)
    config = ml_collections.ConfigDict()
    config.trainer = "cascades"
    config.title = "CIFAR-10 (JPEG): ResNet-20 pool"
    config.seed = 0
    config.dataset = "cifar10"
    config.data_dir = ""
    config.data_seed = 0
    config.heldout_fraction = 0.5
    config.train_limit = 0
    config.test_limit = 0
    config.augment = True
    lenet = dict(
        model="lenet5",
        model_kwargs=dict(num_classes=10),
        optimizer="adam",
        learning_rate=2e-3,
        weight_decay=0.0,
        num_steps=1000,
    )
    config.members = [
        dict(name="r20", model="resnet20", init_from_pytorch="pretrained", num_steps=0),
        dict(name="r20_28px", base="r20", resolution=28),
        dict(name="r20_24px", base="r20", resolution=24),
        dict(name="r20_20px", base="r20", resolution=20),
        dict(name="r20_16px", base="r20", resolution=16),
        dict(name="r20_int4", base="r20", quant_bits=4),
        dict(name="lenet_s0", seed=0, **lenet),
        dict(name="lenet_s1", seed=1, **lenet),
    ]
    # Training defaults (SGD for ResNets; members above override for the LeNets).
    config.model = "resnet20"
    config.optimizer = "sgd"
    config.learning_rate = 0.1
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 1e-4
    config.grad_clip = 0.0
    config.batch_size = 128
    config.eval_batch_size = 500
    config.num_steps = 0
    config.log_every = 500
    config.eval_every = 0
    config.checkpoint_every = 1000
    config.max_checkpoints = 1
    config.mesh_shape = None
    config.init_from_pytorch = ""
    # Cascade search.
    config.max_models = 3
    config.grid_num = 0
    config.metric = "max_prob"
    config.combine = "logits"
    config.max_worst_flops = 0.0
    config.num_budgets = 16
    # Named cascades matched to their last member: compressed → FP, self-cascades (Sec. 5.7).
    config.fixed_cascades = [
        ("r20_int4", "r20"),
        ("r20_24px", "r20"),
        ("r20_16px", "r20"),
        ("r20_24px", "r20_28px"),
    ]
    # Each named cascade is evaluated with the running mean of logits and with "last" (no mean).
    config.fixed_combines = ("logits", "last")
    config.measure_latency = True
    config.latency_examples = 100
    if arg["gpu"]:
        for depth in (32, 44, 56):
            config.members.append(dict(name=f"r{depth}", model=f"resnet{depth}", num_steps=64_000))
    if arg["runlocal"]:
        config.test_limit = 1000
        config.train_limit = 2000
        config.members = [config.members[0], config.members[2], dict(lenet, name="lenet_s0")]
        config.fixed_cascades = [("r20_24px", "r20")]
        config.members[2]["num_steps"] = 20
        config.batch_size = 32
        config.max_models = 2
        config.num_budgets = 4
        config.latency_examples = 4
    return config
