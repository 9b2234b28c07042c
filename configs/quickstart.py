"""Quickstart: LeNet-5 on scikit-learn's bundled digits, then every registered compressor.

Command:
  python -m efficient_jax.main --config=configs/quickstart.py --workdir=/tmp/ej_quickstart

Expected (measured in docs/RESULTS.md): float32 ≈ 97% test accuracy; int8 weights equal to float;
int4 within ~1 pt; one-shot magnitude pruning loses ~5 pt at 50% and collapses at 80%, and 100
masked fine-tuning steps on 512 training images recover most of it. Runtime: ~10 s on 2 CPU cores.
"""

import ml_collections


def get_config(arg=None):
    del arg
    config = ml_collections.ConfigDict()
    config.trainer = "quickstart"
    config.seed = 0
    # Data: the embedded default, no download.
    config.dataset = "digits"
    config.data_dir = ""
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    # Model.
    config.model = "lenet5"
    config.model_kwargs = ml_collections.ConfigDict({"num_classes": 10})
    # Optimisation.
    config.optimizer = "adam"
    config.learning_rate = 2e-3
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.grad_clip = 0.0
    config.batch_size = 64
    config.eval_batch_size = 128
    config.num_steps = 600
    # Logging, evaluation, checkpoints.
    config.log_every = 100
    config.eval_every = 0
    config.checkpoint_every = 200
    config.max_checkpoints = 2
    # Mesh: None puts every device on the "data" axis.
    config.mesh_shape = None
    # Compressors to run after training: names in efficient_jax.compressors.available_compressors()
    # or ["all"].
    config.compressors = ("all",)
    # Training examples handed to compressors for calibration / short fine-tuning.
    config.calib_size = 512
    return config
