"""efficient_jax: efficient deep learning methods in JAX/Flax.

Quantization, weight sharing, few-shot pruning, architecture search, committees and cascades — each
faithful to its paper, as pure functions over pytrees and optax wrappers.
"""

__version__ = "0.1.0"
