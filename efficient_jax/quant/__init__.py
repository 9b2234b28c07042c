"""Quantization: post-training weight quantization (more methods arrive with the quantization core)."""

from efficient_jax.quant._weight_ptq import (
    fake_quantize_per_channel,
    ptq_weights_compressor,
    quantize_weights,
)

__all__ = ["fake_quantize_per_channel", "ptq_weights_compressor", "quantize_weights"]
