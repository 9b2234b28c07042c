"""Deep k-Means on the pretrained CIFAR-10 ResNet-20: WR vs re-trained at per-layer CR 2/4/8/16.

Command (GPU; the full re-training: 20 epochs of SGD per CR, lazy k-means every 5 epochs):
  python -m efficient_jax.main --config=configs/deep_kmeans_resnet20.py \
      --workdir=/tmp/ej_dkm_r20 \
      --config.init_from_pytorch=$EFFICIENT_JAX_DATA/weights/resnet20-12fca82f.npz
CPU variant (what docs/RESULTS.md reports: 150 SGD steps of batch 32 per run, k-means
every 50 steps, 10k training images, 2000 test images, λ = 0.1 at every CR plus the thesis
λ ∈ {1e-4, 3e-4, 1e-3} at CR 8):
  python -m efficient_jax.main --config=configs/deep_kmeans_resnet20.py:cpu \
      --workdir=/tmp/ej_dkm_r20_cpu \
      --config.init_from_pytorch=$EFFICIENT_JAX_DATA/weights/resnet20-12fca82f.npz
``:runlocal`` is a 2-step smoke variant.

Expected: base 81.03% (JPEG test set); the thesis (TT-conv CR 2: +0.05; WRN CR 45: −1.63 vs WR
−16.02) predicts ≈ 0 drop at CR 2 and re-trained ≪ WR at high CR; measured `cpu` numbers in
docs/RESULTS.md. Runtime: GPU ~1 h (estimate, not run); `cpu` ~35 min on 2 busy CPU cores
(~5 min per re-training run).
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False, cpu=False)
    config = ml_collections.ConfigDict()
    config.trainer = "weight_sharing"
    config.seed = 0
    config.dataset = "cifar10"
    config.data_dir = ""
    config.train_limit = 0
    config.test_limit = 0
    config.augment = True
    config.model = "resnet20"
    config.model_kwargs = ml_collections.ConfigDict({"num_classes": 10})
    # PyTorch-layout npz of the pretrained model (the base of every run).
    config.init_from_pytorch = ""
    config.pretrain_steps = 0
    config.pretrain_optimizer = "sgd"
    config.pretrain_learning_rate = 0.1
    # One re-training run: SGD, the original protocol at a fine-tuning learning rate.
    config.optimizer = "sgd"
    config.learning_rate = 0.01
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 1e-4
    config.grad_clip = 0.0
    config.batch_size = 128
    config.eval_batch_size = 500
    config.num_steps = 20 * 390  # 20 epochs
    # Deep k-Means.
    config.ratios = [2.0, 4.0, 8.0, 16.0]
    config.sweep_ratios = [8.0]
    config.strengths = [1e-4, 3e-4, 1e-3]  # thesis: λ = 1e-4, "1e-4 to 1e-3 equally well"
    config.reg_mode = "hard_kmeans"
    config.update_every = 5 * 390  # lazy update every 5 epochs (thesis)
    config.layout = "row"
    config.zero_fraction = 0.0
    config.first_layer_ratio = 2.0
    config.energy_bits = 8
    config.log_every = 100
    config.eval_every = 0
    config.checkpoint_every = 1000
    config.max_checkpoints = 1
    config.mesh_shape = None
    if arg["cpu"]:
        config.train_limit = 10_000
        config.test_limit = 2_000
        config.batch_size = 32
        config.num_steps = 150
        config.update_every = 50
        config.strengths = [1e-1, 1e-4, 3e-4, 1e-3]  # 1e-1: visible within 150 steps
        config.checkpoint_every = 0
    if arg["runlocal"]:
        config.train_limit = 256
        config.test_limit = 64
        config.batch_size = 32
        config.eval_batch_size = 64
        config.num_steps = 2
        config.log_every = 1
        config.ratios = [4.0]
        config.sweep_ratios = []
        config.strengths = [1e-4]
        config.checkpoint_every = 0
    return config
