"""Tiny BERT trained from scratch on GLUE SST-2 (the float model later QAT configs start from).

Command:
  python -m efficient_jax.main --config=configs/tiny_bert_sst2.py --workdir=/tmp/ej_bert_sst2
CPU smoke variant:
  python -m efficient_jax.main --config=configs/tiny_bert_sst2.py:runlocal --workdir=/tmp/ej_bert_s

Expected: ≈ 80% dev accuracy for a 2-layer, 128-wide encoder trained from scratch (no pre-training;
BERT-base fine-tuned reaches 93%). Runtime: ~15 min on 2 CPU cores, ~1 min on a GPU.
"""

import ml_collections

from efficient_jax.core import parse_arg


def get_config(arg=None):
    arg = parse_arg(arg, runlocal=False)
    config = ml_collections.ConfigDict()
    config.trainer = "classification"
    config.seed = 0
    config.dataset = "sst2"
    config.data_dir = ""
    config.max_length = 64
    config.train_limit = 0
    config.test_limit = 0
    config.augment = False
    config.model = "tiny_bert"
    config.model_kwargs = ml_collections.ConfigDict(
        {
            "hidden_size": 128,
            "num_layers": 2,
            "num_heads": 2,
            "intermediate_size": 512,
            "max_position": 64,
            "num_classes": 2,
        }
    )
    config.init_from_pytorch = ""
    config.optimizer = "adamw"
    config.learning_rate = 1e-3
    config.schedule = "linear"
    config.warmup_steps = 200
    config.momentum = 0.9
    config.weight_decay = 0.01
    config.grad_clip = 1.0
    config.batch_size = 64
    config.eval_batch_size = 128
    config.num_steps = 3_000
    config.log_every = 100
    config.eval_every = 1_000
    config.checkpoint_every = 1_000
    config.max_checkpoints = 2
    config.mesh_shape = None
    if arg["runlocal"]:
        config.train_limit = 256
        config.test_limit = 64
        config.model_kwargs.hidden_size = 32
        config.model_kwargs.intermediate_size = 64
        config.batch_size = 16
        config.eval_batch_size = 32
        config.num_steps = 10
        config.warmup_steps = 2
        config.log_every = 5
        config.eval_every = 0
        config.checkpoint_every = 5
    return config
