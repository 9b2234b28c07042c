"""A classifier on the bundled digits (MLP by default); the template for classification runs.

Command:
  python -m efficient_jax.main --config=configs/classification_digits.py --workdir=/tmp/ej_digits
  python -m efficient_jax.main --config=configs/classification_digits.py:model=lenet5 \
      --workdir=/tmp/ej_digits_lenet --config.num_steps=1000

Expected: MLP ≈ 97% test accuracy, LeNet-5 ≈ 98%. Runtime: ~30 s on 2 CPU cores.
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, model="mlp", runlocal=False)
    config = ml_collections.ConfigDict()
    config.trainer = "classification"
    config.seed = 0
    # Data.
    config.dataset = "digits"
    config.data_dir = ""
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    # Model: any name from efficient_jax.models.model_names().
    config.model = arg["model"]
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
    config.eval_every = 200
    config.checkpoint_every = 200
    config.max_checkpoints = 2
    config.mesh_shape = None
    if arg["runlocal"]:
        config.num_steps = 20
        config.log_every = 10
        config.eval_every = 0
    return config
