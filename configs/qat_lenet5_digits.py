"""PTQ and QAT of LeNet-5 on the bundled digits (no download): trains its float model first.

Command:
  python -m efficient_jax.main --config=configs/qat_lenet5_digits.py:preset=lsq_w4a4 \
      --workdir=/tmp/qat_lenet5

Expected: float ≈ 97%; PTQ W4A4 a few points lower; 300 steps of LSQ W4A4 QAT with KD back within
~1 pt of float. Runtime: ~30 s on 2 CPU cores.
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, preset="lsq_w4a4", steps=300, runlocal=False)
    config = ml_collections.ConfigDict()
    config.trainer = "qat"
    config.seed = 0
    config.dataset = "digits"
    config.data_dir = ""
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    config.model = "lenet5"
    config.model_kwargs = ml_collections.ConfigDict({"num_classes": 10})
    config.init_from_pytorch = ""
    config.float_workdir = ""
    # Float pre-training steps (in workdir/float) when no other float model is given.
    config.float_steps = 600
    config.quant = ml_collections.ConfigDict(
        {"preset": arg["preset"], "keep_8bit_regex": "", "rowwise_embedding_regex": ""}
    )
    config.calib_batches = 4
    config.kd_alpha = 0.5
    config.kd_temperature = 1.0
    config.optimizer = "adam"
    config.learning_rate = 1e-3
    config.schedule = "cosine"
    config.warmup_steps = 0
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.grad_clip = 0.0
    config.batch_size = 64
    config.eval_batch_size = 128
    config.num_steps = arg["steps"]
    config.log_every = 100
    config.eval_every = 0
    config.checkpoint_every = 100
    config.max_checkpoints = 2
    config.mesh_shape = None
    if arg["runlocal"]:
        config.float_steps = 4
        config.num_steps = min(arg["steps"], 4)
        config.calib_batches = 1
        config.log_every = 2
        config.checkpoint_every = 2
    return config
