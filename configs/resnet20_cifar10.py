"""ResNet-20 on CIFAR-10 (JPEG folders/tars from $EFFICIENT_JAX_DATA/cifar10).

Command (GPU/TPU; 64k steps of SGD, batch 128 — the He et al. 2016 schedule):
  python -m efficient_jax.main --config=configs/resnet20_cifar10.py --workdir=/tmp/ej_r20
CPU smoke variant (a few hundred images, a few steps):
  python -m efficient_jax.main --config=configs/resnet20_cifar10.py:runlocal --workdir=/tmp/ej_r20s

Expected: ≈ 91.3–91.8% on the original test set (He et al. 2016: 91.25%), a few points lower on the
JPEG re-encoded test set. Runtime: ~1 h on one modern GPU. To start from the pretrained PyTorch
weights instead (e.g. for quantization-aware fine-tuning), set
``--config.init_from_pytorch=$EFFICIENT_JAX_DATA/weights/resnet20-12fca82f.npz``.
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, depth=20, runlocal=False)
    config = ml_collections.ConfigDict()
    config.trainer = "classification"
    config.seed = 0
    config.dataset = "cifar10"
    config.data_dir = ""
    config.train_limit = 0
    config.test_limit = 0
    config.augment = True
    config.model = f"resnet{arg['depth']}"
    config.model_kwargs = ml_collections.ConfigDict({"num_classes": 10})
    # PyTorch-layout npz to start from ("" = random init).
    config.init_from_pytorch = ""
    config.optimizer = "sgd"
    config.learning_rate = 0.1
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 1e-4
    config.grad_clip = 0.0
    config.batch_size = 128
    config.eval_batch_size = 512
    config.num_steps = 64_000
    config.log_every = 200
    config.eval_every = 2_000
    config.checkpoint_every = 2_000
    config.max_checkpoints = 2
    config.mesh_shape = None
    if arg["runlocal"]:
        config.train_limit = 512
        config.test_limit = 256
        config.batch_size = 32
        config.eval_batch_size = 64
        config.num_steps = 10
        config.log_every = 5
        config.eval_every = 0
        config.checkpoint_every = 5
    return config
