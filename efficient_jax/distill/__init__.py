"""Knowledge distillation: logits KD, FitNet hints, hidden/attention MSE, teacher→student steps.

Example:
    >>> import jax.numpy as jnp
    >>> from efficient_jax import distill
    >>> z = jnp.array([[1.0, -1.0]])
    >>> float(distill.kl_divergence(z, z, temperature=4.0))
    0.0
"""

from efficient_jax.distill._composite import distillation_loss
from efficient_jax.distill._features import (
    apply_regressor,
    attention_mse,
    fitnet_hint_loss,
    hidden_mse,
    init_regressor,
    uniform_layer_map,
)
from efficient_jax.distill._kd import kl_divergence, soft_cross_entropy
from efficient_jax.distill._step import (
    create_distill_state,
    init_projections,
    make_distill_step,
    two_stage_config,
)
from efficient_jax.distill._taps import attention_scores, model_outputs, supports_aux

__all__ = [
    "apply_regressor",
    "attention_mse",
    "attention_scores",
    "create_distill_state",
    "distillation_loss",
    "fitnet_hint_loss",
    "hidden_mse",
    "init_projections",
    "init_regressor",
    "kl_divergence",
    "make_distill_step",
    "model_outputs",
    "soft_cross_entropy",
    "supports_aux",
    "two_stage_config",
    "uniform_layer_map",
]
