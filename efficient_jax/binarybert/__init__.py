"""BinaryBERT (Bai 2021, ch. 5): ternary weight splitting, adaptive splitting, sharpness.

Core numerics (NumPy / pure JAX, no model):

- ternary weight splitting :func:`tws_split_weight` (corrected Eq. 5.8), :func:`tws_coefficients`,
  the references :func:`ternary_reference` / :func:`binary_reference`;
- adaptive splitting: :func:`sensitivity_scores` (§5.2.3, :data:`PARTS`,
  :func:`bert_module_group`) and the 0/1 :func:`knapsack` (:func:`brute_force_knapsack`),
  :func:`select_splits`;
- sharpness: :func:`top_hessian_eigenvalue` (power iteration on ``jvp(grad)`` Hessian-vector
  products, :func:`hvp`), :func:`group_sharpness` (:data:`SHARPNESS_GROUPS`, :func:`group_params`),
  :func:`perturbation_curve`.

Model integration (on :mod:`efficient_jax.qat` models):

- :func:`tws_split_model` → :class:`SplitBinaryModel` (identical outputs; a
  :class:`~efficient_jax.qat.QuantizedModel` forward with a split-weight hook),
  :func:`export_split`, :func:`binary_rule` / :func:`binary_rules`, :func:`ternary_layers`;
  adaptive splitting on a model: :func:`split_costs`, :func:`split_sensitivities`,
  :func:`split_model_bytes`;
- the distillation stages: :class:`QuantStudent`, :func:`split_trainable`,
  :func:`feature_distill_loss`, :func:`stage_optimizer`, and the half-width student
  :func:`shrink_bert` / :func:`shrink_bert_width`;
- the ``bwn_tws`` compressor :func:`tws_compressor`.

The whole pipeline on a tiny BERT is ``trainers/binarybert.py``.

Example:
    >>> import numpy as np
    >>> w = np.random.default_rng(0).normal(0.0, 0.05, size=(16, 8))
    >>> w1, w2 = tws_split_weight(w)
    >>> bool(np.allclose(binary_reference(w1) + binary_reference(w2), ternary_reference(w)))
    True
"""

from efficient_jax.binarybert._adaptive import (
    PARTS,
    bert_module_group,
    brute_force_knapsack,
    knapsack,
    select_splits,
    sensitivity_scores,
)
from efficient_jax.binarybert._compressor import tws_compressor
from efficient_jax.binarybert._distill import (
    QuantStudent,
    feature_distill_loss,
    shrink_bert,
    shrink_bert_width,
    split_trainable,
    stage_optimizer,
)
from efficient_jax.binarybert._model import (
    SPLIT,
    SplitBinaryModel,
    binary_rule,
    binary_rules,
    export_split,
    ternary_layers,
    tws_split_model,
)
from efficient_jax.binarybert._sharpness import (
    SHARPNESS_GROUPS,
    group_params,
    group_sharpness,
    hvp,
    perturbation_curve,
    top_hessian_eigenvalue,
)
from efficient_jax.binarybert._splitting import split_costs, split_model_bytes, split_sensitivities
from efficient_jax.binarybert._tws import (
    binary_reference,
    ternary_reference,
    tws_coefficients,
    tws_split_weight,
)

__all__ = [
    "PARTS",
    "SHARPNESS_GROUPS",
    "SPLIT",
    "QuantStudent",
    "SplitBinaryModel",
    "bert_module_group",
    "binary_reference",
    "binary_rule",
    "binary_rules",
    "brute_force_knapsack",
    "export_split",
    "feature_distill_loss",
    "group_params",
    "group_sharpness",
    "hvp",
    "knapsack",
    "perturbation_curve",
    "select_splits",
    "sensitivity_scores",
    "shrink_bert",
    "shrink_bert_width",
    "split_costs",
    "split_model_bytes",
    "split_sensitivities",
    "split_trainable",
    "stage_optimizer",
    "ternary_layers",
    "ternary_reference",
    "top_hessian_eigenvalue",
    "tws_coefficients",
    "tws_compressor",
    "tws_split_model",
    "tws_split_weight",
]
