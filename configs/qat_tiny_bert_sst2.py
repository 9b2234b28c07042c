"""PTQ and QAT (with distillation) of the tiny BERT on GLUE SST-2, from a finished float run.

First train the float model (its workdir is the teacher and the starting point):
  python -m efficient_jax.main --config=configs/tiny_bert_sst2.py --workdir=/tmp/bert_fp
Then, for each preset (qat.PRESETS):
  python -m efficient_jax.main --config=configs/qat_tiny_bert_sst2.py:preset=w8a8,steps=0 \
      --workdir=/tmp/qat_bert_w8a8 --config.float_workdir=/tmp/bert_fp
  python -m efficient_jax.main --config=configs/qat_tiny_bert_sst2.py:preset=lsq_w4a8,steps=1000 \
      --workdir=/tmp/qat_bert_lsq_w4a8 --config.float_workdir=/tmp/bert_fp
  python -m efficient_jax.main --config=configs/qat_tiny_bert_sst2.py:preset=twn_a8,steps=1000 \
      --workdir=/tmp/qat_bert_twn --config.float_workdir=/tmp/bert_fp
CPU smoke variant: ``:runlocal`` (trains its own tiny float model first).

Expected: W8A8 within 0.5 pt of float; W4A8 LSQ and ternary (TWN, row-wise embeddings as in
TernaryBERT) weights with KD within ~1–2 pt after 1,000 steps. Runtime: ~5 min per QAT run on 2 CPU
cores.
"""

import pathlib

import ml_collections

from efficient_jax.core import load_config, parse_arg

FLOAT_CONFIG = pathlib.Path(__file__).with_name("tiny_bert_sst2.py")


def get_config(arg=None):
    arg = parse_arg(arg, preset="lsq_w4a8", steps=1000, runlocal=False)
    # The float model's config (data, model, batch sizes), with the QAT fields on top.
    config = load_config(f"{FLOAT_CONFIG}:runlocal" if arg["runlocal"] else str(FLOAT_CONFIG))
    config.trainer = "qat"
    # A finished run of configs/tiny_bert_sst2.py (same model_kwargs), or float_steps > 0.
    config.float_workdir = ""
    config.float_steps = 0
    config.quant = ml_collections.ConfigDict(
        {
            "preset": arg["preset"],
            "keep_8bit_regex": r"^classifier/|^pooler/",
            "rowwise_embedding_regex": r"word_embeddings/embedding$",
        }
    )
    config.calib_batches = 8
    config.kd_alpha = 1.0
    config.kd_temperature = 1.0
    config.learning_rate = 2e-4
    config.warmup_steps = 0
    config.weight_decay = 0.0
    config.num_steps = arg["steps"]
    config.eval_every = 0
    config.checkpoint_every = 500
    if arg["runlocal"]:
        config.float_steps = 4
        config.calib_batches = 2
        config.num_steps = min(arg["steps"], 4)
        config.log_every = 2
        config.checkpoint_every = 2
    return config
