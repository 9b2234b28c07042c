"""VGG-Small for CIFAR: the 6-conv baseline of low-bit quantization papers (LQ-Nets, LSQ)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

_kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class VGGSmall(nn.Module):
    """VGG-Small: (conv128 ×2, pool, conv256 ×2, pool, conv512 ×2, pool) with BN + ReLU, then FC.

    Layer order as in the LQ-Nets / IR-Net reference code: ``conv → [pool] → BN → ReLU`` (the
    pool of each stage comes right after its second convolution), 3×3 convolutions without bias and
    padding 1, and one linear classifier on the flattened 4×4×512 map (for 32×32 inputs); 4.66M
    parameters.

    Attributes:
      num_classes: number of output logits.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = VGGSmall(num_classes=10)
        >>> x = jnp.zeros((2, 32, 32, 3))
        >>> variables = model.init(jax.random.key(0), x)
        >>> model.apply(variables, x, train=False).shape
        (2, 10)

    References:
      Zhang, Yang, Ye, Hua, "LQ-Nets: Learned Quantization for Highly Accurate and Compact Deep
      Neural Networks", ECCV 2018, https://arxiv.org/abs/1807.10029; Esser et al., "Learned Step
      Size Quantization", ICLR 2020, https://arxiv.org/abs/1902.08153.
    """

    num_classes: int = 10

    def __post_init__(self):
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {self.num_classes}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"VGGSmall expects NHWC images (N, H, W, C); got shape {x.shape}.")
        for i, width in enumerate((128, 128, 256, 256, 512, 512)):
            x = nn.Conv(
                width,
                (3, 3),
                padding=((1, 1), (1, 1)),
                use_bias=False,
                kernel_init=_kaiming_normal,
                name=f"conv{i}",
            )(x)
            if i % 2 == 1:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            x = nn.BatchNorm(
                use_running_average=not train, momentum=0.9, epsilon=1e-5, name=f"bn{i}"
            )(x)
            x = nn.relu(x)
        x = jnp.reshape(x, (x.shape[0], -1))
        return nn.Dense(self.num_classes, name="fc")(x)
