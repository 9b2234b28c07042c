"""PTQ and QAT of the pretrained ResNet-20 on CIFAR-10 JPEG (first conv and classifier at 8 bits).

Commands (the reproductions in docs/RESULTS.md; ``preset`` is any name of qat.PRESETS):
  python -m efficient_jax.main --config=configs/qat_resnet20_cifar10.py:preset=w8a8,steps=0 \
      --workdir=/tmp/qat_r20_w8a8
  python -m efficient_jax.main --config=configs/qat_resnet20_cifar10.py:preset=w4a4,steps=0 \
      --workdir=/tmp/qat_r20_w4a4
  python -m efficient_jax.main --config=configs/qat_resnet20_cifar10.py:preset=lsq_w4a4,steps=600 \
      --workdir=/tmp/qat_r20_lsq_w4a4
  python -m efficient_jax.main --config=configs/qat_resnet20_cifar10.py:preset=twn_a8,steps=600 \
      --workdir=/tmp/qat_r20_twn
CPU smoke variant: ``:runlocal``.

Expected: float 81.0% (JPEG test set); PTQ W8A8 within 0.5 pt; PTQ W4A4 a large drop; a short LSQ
W4A4 QAT (with KD from the float model) recovers most of it; TWN/BWN weights lose a few points after
a short schedule. Runtime on 2 CPU cores: PTQ ~1 min; 600 QAT steps at batch 64 ~20–30 min (a GPU
does the full schedule, ``steps=20000``, in minutes).
"""

import pathlib

import ml_collections

from efficient_jax.core import load_config, parse_arg

FLOAT_CONFIG = pathlib.Path(__file__).with_name("resnet20_cifar10.py")


def get_config(arg=None):
    arg = parse_arg(arg, preset="lsq_w4a4", steps=600, runlocal=False)
    # The float model's config (data, model, augmentation, optimizer), with the QAT fields on top.
    config = load_config(str(FLOAT_CONFIG))
    config.trainer = "qat"
    # The float model: PyTorch weights (default: $EFFICIENT_JAX_DATA/weights/...).
    config.init_from_pytorch = "{data_dir}/weights/resnet20-12fca82f.npz"
    config.float_workdir = ""
    config.float_steps = 0
    # Quantization: a preset from efficient_jax.qat.PRESETS and the 8-bit exceptions.
    config.quant = ml_collections.ConfigDict(
        {
            "preset": arg["preset"],
            "keep_8bit_regex": r"^conv1/|^linear/",
            "rowwise_embedding_regex": "",
        }
    )
    # Batches of the training set used to calibrate activation ranges.
    config.calib_batches = 8
    # Distillation from the float model: loss = alpha * KD + (1 - alpha) * CE.
    config.kd_alpha = 0.5
    config.kd_temperature = 1.0
    config.learning_rate = 0.01
    config.weight_decay = 5e-5
    config.batch_size = 64
    config.eval_batch_size = 500
    config.num_steps = arg["steps"]
    config.log_every = 50
    config.eval_every = 0
    config.checkpoint_every = 200
    if arg["runlocal"]:
        config.train_limit = 256
        config.test_limit = 128
        config.batch_size = 32
        config.eval_batch_size = 64
        config.calib_batches = 2
        config.num_steps = min(arg["steps"], 4)
        config.log_every = 2
        config.checkpoint_every = 2
    return config
