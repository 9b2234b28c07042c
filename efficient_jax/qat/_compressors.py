"""Model-level quantization as registered compressors (the quickstart's PTQ and QAT rows).

:func:`ptq_compressor`: calibrated round-to-nearest W/A quantization → ``convert`` to the packed
integer serving model. :func:`qat_compressor`: ``prepare`` (calibrated on the calibration batch)
→ ``steps`` full-batch Adam steps on that batch (:func:`efficient_jax.train.finetune`) that train
the float latents and the learnable quantizer leaves (LSQ steps) through the STEs, with the float
model as the teacher (logits distillation, Hinton et al. 2015) → ``convert``. The same pipeline at
scale is ``trainers/qat.py``.

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

import optax

from efficient_jax import cost
from efficient_jax.core import CompressionResult
from efficient_jax.distill import soft_cross_entropy
from efficient_jax.qat._convert import convert
from efficient_jax.qat._intercept import QUANT
from efficient_jax.qat._model import prepare
from efficient_jax.qat._presets import preset_rules
from efficient_jax.qat._rules import QuantRule
from efficient_jax.train import finetune, model_inputs


def ptq_compressor(weight_bits: int, act_bits: int = 8, *, granularity: str = "per_tensor"):
    """A registered-compressor function: uniform W``weight_bits``A``act_bits`` post-training
    quantization of every kernel/embedding, activations min-max calibrated on ``calib_batch``.

    The result's ``apply_fn`` is the integer serving forward; ``variables`` its packed tree.

    Raises:
      ValueError: bit widths the ``"uniform"`` quantizer does not allow, an unknown granularity;
        calling it without ``calib_batch``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.models import get_model
        >>> model = get_model("mlp", features=(8,), num_classes=2)
        >>> x = jax.random.normal(jax.random.key(0), (4, 3))
        >>> result = ptq_compressor(8)(model.init(jax.random.key(1), x), apply_fn=model.apply,
        ...                            calib_batch=x)
        >>> result.info
        {'weight_bits': 8, 'act_bits': 8}
    """
    rules = (
        QuantRule(
            path_regex=r"(kernel|embedding)$",
            weight="uniform",
            weight_bits=weight_bits,
            weight_granularity=granularity,
            act="uniform",
            act_bits=act_bits,
        ),
    )

    def compress(variables, *, apply_fn, calib_batch=None) -> CompressionResult:
        if calib_batch is None:
            raise ValueError(
                f"ptq_w{weight_bits}a{act_bits} calibrates activation ranges: pass calib_batch."
            )
        qat, qmodel = prepare(apply_fn, variables, rules, [calib_batch])
        serving, serve = convert(qat, rules, model=qmodel)
        return CompressionResult(
            serving,
            cost.model_bytes_from_tree(serving),
            info={"weight_bits": weight_bits, "act_bits": act_bits},
            apply_fn=serve,
        )

    return compress


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
        trained = finetune(
            qmodel,
            qat,
            calib_batch,
            tx=optax.adam(learning_rate),
            steps=steps,
            loss_fn=lambda logits, _: soft_cross_entropy(logits, teacher),
            trainable=("params", QUANT),
        )
        serving, serve = convert(trained, rules, model=qmodel)
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
