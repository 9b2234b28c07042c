"""Small baselines: a multi-layer perceptron and LeNet-5.

Both follow the uniform model contract: ``model.apply(variables, x, train=False)`` returns logits of
shape ``(N, num_classes)``. Neither has BatchNorm or dropout, so ``train`` changes nothing; it is
accepted so that every model in the registry is called the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    """A ReLU multi-layer perceptron on flattened inputs.

    Attributes:
      features: widths of the hidden ``nn.Dense`` layers, in order.
      num_classes: number of output logits.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = MLP(features=(32,), num_classes=10)
        >>> x = jnp.zeros((2, 8, 8, 1))
        >>> variables = model.init(jax.random.key(0), x)
        >>> model.apply(variables, x, train=False).shape
        (2, 10)
    """

    features: Sequence[int] = (256, 128)
    num_classes: int = 10

    def __post_init__(self):
        if any(int(f) < 1 for f in self.features) or self.num_classes < 1:
            raise ValueError(
                f"MLP widths and num_classes must be positive integers; got features="
                f"{tuple(self.features)}, num_classes={self.num_classes}."
            )
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train  # No BatchNorm or dropout.
        x = jnp.reshape(x, (x.shape[0], -1))
        for i, width in enumerate(self.features):
            x = nn.relu(nn.Dense(int(width), name=f"Dense_{i}")(x))
        return nn.Dense(self.num_classes, name="head")(x)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, for 8×8 digits up to 32×32 images.

    conv 6@5×5 → pool → conv 16@5×5 → pool → FC 120 → FC 84 → FC ``num_classes``. Both
    convolutions use ``'SAME'`` padding so that an 8×8×1 digit (scikit-learn) still has a 2×2 map
    after the second pool; on 32×32×3 CIFAR inputs the flattened feature has 8·8·16 = 1024 entries.

    Attributes:
      num_classes: number of output logits.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = LeNet5(num_classes=10)
        >>> x = jnp.zeros((2, 8, 8, 1))
        >>> variables = model.init(jax.random.key(0), x)
        >>> model.apply(variables, x).shape
        (2, 10)

    References:
      LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document recognition",
      Proc. IEEE 1998.
    """

    num_classes: int = 10

    def __post_init__(self):
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {self.num_classes}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train  # No BatchNorm or dropout.
        if x.ndim != 4:
            raise ValueError(f"LeNet5 expects NHWC images (N, H, W, C); got shape {x.shape}.")
        x = nn.relu(nn.Conv(6, (5, 5), padding="SAME", name="conv1")(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = nn.relu(nn.Conv(16, (5, 5), padding="SAME", name="conv2")(x))
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
        x = jnp.reshape(x, (x.shape[0], -1))
        x = nn.relu(nn.Dense(120, name="fc1")(x))
        x = nn.relu(nn.Dense(84, name="fc2")(x))
        return nn.Dense(self.num_classes, name="fc3")(x)
