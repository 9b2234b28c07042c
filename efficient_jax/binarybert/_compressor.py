"""BinaryBERT's recipe as a registered compressor (the quickstart's ``bwn_tws`` row).

TWN-A8 QAT with logits distillation from the float model (``steps`` full-batch Adam steps on the
calibration batch) → ternary weight splitting into two binary (BWN) matrices per layer (exact) →
``steps`` more distilled steps on the split binary model → packed export (two 1-bit halves per
matrix). On a model without a width-reduced variant (LeNet-5) the ternary model is the full one,
so the result holds 2× the binary weights of a plain BWN model. The full pipeline (half-width
ternary, two-stage distillation, adaptive splitting) is ``trainers/binarybert.py``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import get_model
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (32, 8))
    >>> variables = model.init(jax.random.key(1), x)
    >>> compress = tws_compressor(steps=3)
    >>> result = compress(variables, apply_fn=model.apply,
    ...                   calib_batch={"image": x, "label": jnp.zeros(32, jnp.int32)})
    >>> result.apply_fn(result.variables, x).shape, result.info["split_layers"]
    ((32, 3), 2.0)

References:
  Bai (2021), §5.2-5.3; Bai et al., "BinaryBERT", ACL 2021.
"""

from __future__ import annotations

import optax

from efficient_jax import cost
from efficient_jax.binarybert._distill import FIXED
from efficient_jax.binarybert._model import SPLIT, export_split, tws_split_model
from efficient_jax.core import CompressionResult
from efficient_jax.distill import soft_cross_entropy
from efficient_jax.qat import prepare, preset_rules
from efficient_jax.train import finetune, model_inputs


def _distill(forward, qvars, batch, teacher, steps: int, learning_rate: float):
    """``steps`` full-batch Adam steps of logits distillation; statistics stay fixed."""
    return finetune(
        forward,
        qvars,
        batch,
        tx=optax.adam(learning_rate),
        steps=steps,
        loss_fn=lambda logits, _: soft_cross_entropy(logits, teacher),
        trainable=tuple(k for k in qvars if k not in FIXED),
    )


def tws_compressor(
    *,
    steps: int = 40,
    learning_rate: float = 1e-3,
    split_learning_rate: float | None = None,
    preset: str = "twn_a8",
):
    """Compressor: ternary QAT → TWS → binary fine-tune, ``steps`` distilled steps each.

    ``split_learning_rate`` (default ``learning_rate / 10``) is the binary fine-tuning LR: the
    zeroed ternary weights split into halves of magnitude ``b`` near zero, whose signs flip under
    large steps (the thesis also lowers the LR after the split, Table 5.1).

    Raises:
      ValueError: non-positive ``steps``/``learning_rate``, a preset without ``twn`` weights, or
        no calibration batch.
    """
    rules = preset_rules(preset)
    if rules[-1].weight != "twn":
        raise ValueError(f"tws_compressor needs a 'twn' weight preset; {preset!r} is not one.")
    split_lr = learning_rate / 10 if split_learning_rate is None else split_learning_rate
    if steps <= 0 or learning_rate <= 0 or split_lr <= 0:
        raise ValueError(f"steps and learning_rate must be positive; got {steps}, {learning_rate}.")

    def compress(variables, *, apply_fn, calib_batch=None) -> CompressionResult:
        if calib_batch is None:
            raise ValueError("bwn_tws needs a calibration batch to train on.")
        args, kwargs = model_inputs(calib_batch)
        teacher = apply_fn(variables, *args, train=False, **kwargs)
        qat, tern = prepare(apply_fn, variables, rules, [calib_batch])
        qat = _distill(tern, qat, calib_batch, teacher, steps, learning_rate)
        split, binary = tws_split_model(qat, tern)
        split = _distill(binary, split, calib_batch, teacher, steps, split_lr)
        packed, apply_packed = export_split(split, binary)
        nbytes = cost.model_bytes_from_tree(packed["params"]) + cost.model_bytes_from_tree(
            packed[SPLIT]
        )
        info = {"qat_steps": 2 * steps, "weight_bits": 1, "act_bits": rules[-1].act_bits}
        info["split_layers"] = float(len(binary.split))
        return CompressionResult(packed, nbytes, info=info, apply_fn=apply_packed)

    return compress
