"""Few-shot pruning of VGG-Small on CIFAR-10 (Bai 2021, Ch. 3, VGG-50% scheme on the 6-conv VGG).

Command (GPU-size default: trains the VGG-Small teacher for 40k SGD steps first, then prunes):
  python -m efficient_jax.main --config=configs/few_shot_pruning_vgg_small_cifar10.py:k=1 \\
      --workdir=/tmp/ej_fsp_vgg_k1
CPU smoke variant (a 20-step teacher on 512 images; checks the pipeline, not the numbers):
  python -m efficient_jax.main \\
      --config=configs/few_shot_pruning_vgg_small_cifar10.py:k=1,runlocal --workdir=/tmp/ej_fsp_vs

The teacher is trained by this config (``pretrain_steps``, checkpointed under
``workdir/pretrain`` and resumed), as VGG-Small has no shipped checkpoint. ``channel50`` removes
50% of the input channels of conv1–conv5 (the first conv is not pruned, as in the thesis; the
producer of each is the previous conv with its BN, the pool in between is channel-wise);
``unstructured90`` zeroes 90% of conv1–conv5. Methods: L1-norm, w/o CD, CD (μ = 0.6), SCD
(α, β) = (0.9, 0.3), the thesis's VGG values.

Expected (thesis, VGG-16 VGG-50%, K=1): CD 69.25, SCD 68.53, w/o CD 65.57, L1-norm 14.36.
Runtime: teacher ~1 h on one GPU (hours on 2 CPU cores), pruning minutes. Not measured on CPU
at full size (see docs/RESULTS.md).
"""

import pathlib

from efficient_jax.core import load_config, parse_arg

RESNET_CONFIG = pathlib.Path(__file__).with_name("few_shot_pruning_resnet20_cifar10.py")

MODES = {
    "channel50": ("channel", ((r"^conv[1-5]$", 0.5),)),
    "unstructured90": ("unstructured", ((r"^conv[1-5]$", 0.9),)),
}


def get_config(arg=None):
    arg = parse_arg(arg, k=1, mode="channel50", seeds=1, steps=300, runlocal=False)
    if arg["mode"] not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}; got {arg['mode']!r}.")
    structure, rules = MODES[arg["mode"]]
    # The ResNet-20 config's few-shot fields, with VGG-Small's model, teacher training and values.
    base = f"k={arg['k']},seeds={arg['seeds']},steps={arg['steps']}"
    config = load_config(f"{RESNET_CONFIG}:{base}")
    config.augment = True
    config.model = "vgg_small"
    config.init_from_pytorch = ""
    # Teacher training (SGD, cosine, batch 128), checkpointed and resumed under workdir/pretrain.
    config.pretrain_steps = 40_000
    config.optimizer = "sgd"
    config.learning_rate = 0.05
    config.schedule = "cosine"
    config.weight_decay = 5e-4
    config.batch_size = 128
    config.eval_batch_size = 500
    config.log_every = 200
    config.eval_every = 0
    config.checkpoint_every = 2_000
    config.max_checkpoints = 2
    config.structure = structure
    config.rules = rules
    config.mu = 0.6
    config.beta = 0.3
    if arg["runlocal"]:
        config.train_limit = 512
        config.test_limit = 500  # A random subset (the files are ordered by class).
        config.pretrain_steps = 20
        config.batch_size = 16
        config.eval_batch_size = 250
        config.log_every = 50
        config.checkpoint_every = 100
        config.layer_steps = min(arg["steps"], 10)
        config.latency_batch = 8
    return config
