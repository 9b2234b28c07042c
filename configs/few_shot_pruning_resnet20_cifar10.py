"""Few-shot pruning of the pretrained ResNet-20 on CIFAR-10 by cross distillation (Bai 2021, Ch. 3).

Command (args: k=1|5|10, mode=channel50|unstructured90, seeds=N, steps=T, runlocal):
  python -m efficient_jax.main --config=configs/few_shot_pruning_resnet20_cifar10.py:k=5 \\
      --workdir=/tmp/ej_fsp_r20_k5
CPU smoke variant (synthetic-size: 2,000 test images, 20 steps per layer):
  python -m efficient_jax.main \\
      --config=configs/few_shot_pruning_resnet20_cifar10.py:k=1,runlocal --workdir=/tmp/ej_fsp_s

Teacher: akamaster's ResNet-20 (81.03% on the 10,000 JPEG test images). ``channel50`` removes 50%
of the input channels of the middle conv (``conv2``) of all 9 residual blocks (the thesis's Res-r%
scheme: block outputs, which feed the option-A shortcuts, are left intact); ``unstructured90``
zeroes 90% of the weights of every 3×3 conv except the first (the thesis does not prune the first
conv; the classifier is shared and unpruned). Methods: L1-norm, w/o CD, CD (μ = 0.9) and SCD
(α, β) = (0.9, 0.5), the thesis's ResNet values; no fine-tuning afterwards.

Expected (thesis, VGG-16/CIFAR-10 VGG-50%, K=1): CD 69.25 ≈ SCD 68.53 > w/o CD 65.57 ≫ L1-norm
14.36; the gap shrinks with K. Measured: docs/RESULTS.md. Runtime on 2 CPU cores:
0.5–9 min per method and seed (T=300, K ≤ 10; CD is the slowest), depending on the load.
"""

import ml_collections

from efficient_jax.core import parse_arg

MODES = {
    "channel50": ("channel", ((r"^layer\d_\d/conv2$", 0.5),)),
    "unstructured90": ("unstructured", ((r"^layer\d_\d/conv[12]$", 0.9),)),
}


def get_config(arg=None):
    arg = parse_arg(arg, k=5, mode="channel50", seeds=1, steps=300, runlocal=False)
    if arg["mode"] not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}; got {arg['mode']!r}.")
    structure, rules = MODES[arg["mode"]]
    config = ml_collections.ConfigDict()
    config.trainer = "few_shot_pruning"
    config.seed = 0
    config.dataset = "cifar10"
    config.data_dir = ""
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    config.model = "resnet20"
    config.model_kwargs = ml_collections.ConfigDict({"num_classes": 10})
    config.init_from_pytorch = "{data_dir}/weights/resnet20-12fca82f.npz"
    config.pretrain_steps = 0
    # Fields the shared setup reads (no teacher training here).
    config.optimizer = "adam"
    config.learning_rate = 1e-3
    config.schedule = "constant"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.grad_clip = 0.0
    config.num_steps = 0
    config.batch_size = 8
    config.eval_batch_size = 1000
    config.log_every = 100
    config.mesh_shape = None
    # Few-shot pruning.
    config.k = arg["k"]
    config.seeds = tuple(range(arg["seeds"]))
    config.methods = ("l1_norm", "none", "cd", "scd")
    config.structure = structure
    config.rules = rules
    config.mu = 0.9
    config.alpha = 0.9
    config.beta = 0.5
    config.layer_steps = arg["steps"]
    config.layer_learning_rate = 1e-3
    config.ramp = 1 / 3
    config.lr_drop = 0.1
    config.prox_lambda = 0.0
    config.latency_batch = 64
    # Also report accuracy after re-estimating the student's BN statistics on the few-shot images
    # (the public code's few-shot passes run the student in training mode; docs/RESULTS.md).
    config.bn_reestimate = True
    if arg["runlocal"]:
        config.test_limit = 2000  # A random subset (the files are ordered by class).
        config.layer_steps = min(arg["steps"], 20)
        config.latency_batch = 8
    return config
