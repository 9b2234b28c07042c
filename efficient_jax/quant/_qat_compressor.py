"""A short quantization-aware fine-tune as a registered compressor (the quickstart's QAT rows).

``prepare`` (calibrated on the calibration batch) → ``steps`` full-batch Adam steps on that batch
that train the float latents and the learnable quantizer leaves (LSQ steps) through the STEs, with
the float model as the teacher (logits distillation, Hinton et al. 2015) → ``convert`` to the
packed serving model. The same pipeline at scale is ``trainers/qat.py``.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from efficient_jax.models import get_model
    >>> model = get_model("mlp", features=(16,), num_classes=3)
    >>> x = jax.random.normal(jax.random.key(0), (32, 8))
    >>> variables = model.init(jax.random.key(1), x)
    >>> compress = qat_compressor("lsq_w4a4", steps=5)
    >>> result = compress(variables, apply_fn=model.apply,
    ...                   calib_batch={"image": x, "label": jnp.zeros(32, jnp.int32)})
    >>> result.apply_fn(result.variables, x).shape
    (32, 3)
"""

from __future__ import annotations

from typing import Any

import jax
import optax

from efficient_jax import cost
from efficient_jax.core import CompressionResult
from efficient_jax.distill import soft_cross_entropy
from efficient_jax.quant._convert import convert
from efficient_jax.quant._intercept import QUANT
from efficient_jax.quant._model import prepare
from efficient_jax.quant._presets import preset_rules
from efficient_jax.train import model_inputs


def qat_compressor(preset: str, *, steps: int = 200, learning_rate: float = 1e-3):
    """Compressor: preset ``preset`` with a ``steps``-step distilled QAT on the calibration batch.

    Raises:
      ValueError: unknown preset, non-positive ``steps``/``learning_rate``, missing inputs.
    """
    rules = preset_rules(preset)
    if steps <= 0 or learning_rate <= 0:
        raise ValueError(f"steps and learning_rate must be positive; got {steps}, {learning_rate}.")

    def compress(variables, *, apply_fn, calib_batch=None) -> CompressionResult:
        if calib_batch is None:
            raise ValueError(f"QAT preset {preset!r} needs a calibration batch to train on.")
        args, kwargs = model_inputs(calib_batch)
        teacher = apply_fn(variables, *args, train=False, **kwargs)
        qat, qmodel = prepare(apply_fn, variables, rules, [calib_batch])
        fixed = {k: v for k, v in qat.items() if k not in ("params", QUANT)}
        tx = optax.adam(learning_rate)

        def loss_fn(trainable: dict[str, Any]) -> jax.Array:
            logits = qmodel({**fixed, **trainable}, *args, train=False, **kwargs)
            return soft_cross_entropy(logits, teacher)

        @jax.jit
        def run(trainable):
            def body(_, carry):
                trainable, opt = carry
                updates, opt = tx.update(jax.grad(loss_fn)(trainable), opt, trainable)
                return optax.apply_updates(trainable, updates), opt

            return jax.lax.fori_loop(0, steps, body, (trainable, tx.init(trainable)))[0]

        trained = run({"params": qat["params"], QUANT: qat[QUANT]})
        serving, serve = convert({**fixed, **trained}, rules, model=qmodel)
        return CompressionResult(
            serving,
            cost.model_bytes_from_tree(serving),
            info={"qat_steps": steps, **_bits(rules[-1])},
            apply_fn=serve,
        )

    return compress


def _bits(rule) -> dict[str, int]:
    out = {"weight_bits": rule.weight_bits} if rule.weight else {}
    return out | ({"act_bits": rule.act_bits} if rule.act else {})
