"""Post-training quantization of a 4-layer tiny BERT on SST-2: RTN, REM, MREM-S, MREM-P, QAT.

Bai 2021, thesis Ch. 4 (MREM), in the harness ``efficient_jax/trainers/mrem.py``. First train the
4-layer float model (~15–25 min on 2 contended CPU cores):
  nice -n 10 python -m efficient_jax.main --config=configs/tiny_bert_sst2.py \
      --workdir=/tmp/mrem/bert_fp4l --config.model_kwargs.num_layers=4 --config.num_steps=2000 \
      --config.eval_every=1000 --config.checkpoint_every=500
Then, for METHOD in rtn rem mrem_seq mrem_par qat and BITS in w8e8a8 w4e4a8 w2e2a8 (4 fake CPU
devices for mrem_par; set for every method so that all runs see the same devices):
  XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m efficient_jax.main \
      --config=configs/mrem_tiny_bert_sst2.py:method=METHOD,bits=BITS \
      --workdir=/tmp/mrem/METHOD_BITS --config.float_workdir=/tmp/mrem/bert_fp4l
Without ``float_workdir`` the float model is trained first (``float_steps``).
CPU smoke variant: ``:runlocal`` (its own 4-layer, 32-wide float model; seconds of training).

Defaults here are the CPU budget (1,024 calibration examples, 200 steps per module, batch 32; QAT
150 steps of batch 64); the thesis uses 4,096 examples and 2,000 steps per module with LR 1e-4
(``:thesis``).
Expected (see docs/RESULTS.md): W8 all ≈ float; at W2 MREM ≫ RTN and > REM, MREM-P ≈ MREM-S,
QAT best but much slower. Runtime: RTN ~1 min, REM/MREM ~3–10 min, QAT (150 steps) ~10 min on
2 contended CPU cores.
"""

import pathlib

from efficient_jax.core import load_config, parse_arg

FLOAT_CONFIG = pathlib.Path(__file__).with_name("tiny_bert_sst2.py")


def get_config(arg=None):
    arg = parse_arg(arg, method="mrem_seq", bits="w4e4a8", runlocal=False, thesis=False)
    config = load_config(f"{FLOAT_CONFIG}:runlocal" if arg["runlocal"] else str(FLOAT_CONFIG))
    config.trainer = "mrem"
    config.model_kwargs.num_layers = 4
    config.method = arg["method"]  # rtn | rem | mrem_seq | mrem_par | qat
    config.bits = arg["bits"]  # w8e8a8 | w4e4a8 | w2e2a8 (any wXeYaZ with 2..8 bits)
    # A finished run of configs/tiny_bert_sst2.py (model_kwargs are read from it), or float_steps.
    config.float_workdir = ""
    config.float_steps = 0
    config.num_steps = 0  # the float config's field; unused here
    config.num_modules = 4
    config.calib_size = 1024
    config.ptq_steps = 200  # per module (MREM) / whole model (REM)
    config.ptq_batch_size = 32
    config.ptq_learning_rate = 2e-4
    config.train_weights = True
    config.tf_fraction = 0.4  # teacher forcing over the first 40% of the steps (MREM-P)
    config.queue_size = 8  # t0: FIFO capacity of each input queue (MREM-P)
    config.qat_steps = 150
    config.qat_learning_rate = 2e-4
    config.log_every = 50
    if arg["thesis"]:
        config.calib_size = 4096
        config.ptq_steps = 2000
        config.ptq_learning_rate = 1e-4
    if arg["runlocal"]:
        config.float_steps = 4
        config.calib_size = 32
        config.ptq_steps = 3
        config.ptq_batch_size = 8
        config.queue_size = 2
        config.qat_steps = 3
        config.log_every = 1
    return config
