"""Tiny BERT trained from scratch on one GLUE task: CoLA, SST-2, MRPC, RTE or STS-B.

Command (task: cola | sst2 | mrpc | rte | stsb):
  python -m efficient_jax.main --config=configs/tiny_bert_glue.py:task=rte --workdir=/tmp/ej_rte
CPU smoke variant (seconds):
  python -m efficient_jax.main --config=configs/tiny_bert_glue.py:task=stsb,runlocal \\
      --workdir=/tmp/ej_stsb_s

``configs/tiny_bert_sst2.py`` with the task's data (``glue/<task>``, read from
``<data_dir>/glue/<TASK>``, see docs/DATA.md) and head: STS-B is a regression (1 output, MSE loss);
the others have 2 classes.
``task=sst2`` is exactly ``tiny_bert_sst2.py``. Pair tasks (MRPC, RTE, STS-B) read 128 tokens; the
small tasks train for about 10 epochs. ``results.json`` holds the task's metrics (Matthews
correlation for CoLA, F1 and accuracy for MRPC, accuracy for SST-2/RTE, Pearson, Spearman and MSE
for STS-B) next to the input-blind baseline (``majority_*``, ``train_mean_mse``).

Expected (from scratch, no pre-training): SST-2 ≈ 80%; on CoLA, MRPC and RTE such a model is often
no better than the majority class — compare ``test_*`` with ``majority_*``.
"""

import pathlib

from efficient_jax.core import load_config, parse_arg

# task -> (outputs of the head, max_length, num_steps); batch 64.
_TASKS = {
    "cola": (2, 64, 1_500),  # 8,551 train sentences
    "sst2": (2, 64, 3_000),  # 67,349
    "mrpc": (2, 128, 600),  # 3,667 pairs
    "rte": (2, 128, 400),  # 2,490 pairs
    "stsb": (1, 128, 1_000),  # 5,749 pairs, regression
}


def get_config(arg=None):
    arg = parse_arg(arg, task="sst2", runlocal=False)
    task = arg["task"].lower().replace("-", "")
    if task not in _TASKS:
        raise ValueError(f"Unknown GLUE task {arg['task']!r}; valid: {list(_TASKS)}.")
    base = pathlib.Path(__file__).with_name("tiny_bert_sst2.py")
    config = load_config(f"{base}:runlocal" if arg["runlocal"] else str(base))
    if task == "sst2":
        return config
    num_outputs, max_length, num_steps = _TASKS[task]
    config.dataset = f"glue/{task}"
    config.model_kwargs.num_classes = num_outputs
    if not arg["runlocal"]:
        config.max_length = max_length
        config.model_kwargs.max_position = max_length
        config.num_steps = num_steps
        config.warmup_steps = num_steps // 10
        config.eval_every = num_steps // 2
        config.checkpoint_every = num_steps // 2
    return config
