"""Wide residual networks (WRN-d-k) for CIFAR with pre-activation blocks."""

from __future__ import annotations

import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp

_kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
_PAD1 = ((1, 1), (1, 1))


def _bn(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name=name)


class WideBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3×3(stride)-BN-ReLU-dropout-conv3×3 (+ 1×1 projection)."""

    features: int
    stride: int = 1
    dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        equal_in_out = x.shape[-1] == self.features and self.stride == 1
        act = nn.relu(_bn(train, "bn1")(x))
        # As in the reference code, a projection shortcut reads the pre-activated input.
        shortcut = x if equal_in_out else act
        out = nn.Conv(
            self.features,
            (3, 3),
            (self.stride, self.stride),
            padding=_PAD1,
            use_bias=False,
            kernel_init=_kaiming_normal,
            name="conv1",
        )(act)
        out = nn.relu(_bn(train, "bn2")(out))
        if self.dropout_rate > 0:
            out = nn.Dropout(self.dropout_rate, deterministic=not train)(out)
        out = nn.Conv(
            self.features,
            (3, 3),
            padding=_PAD1,
            use_bias=False,
            kernel_init=_kaiming_normal,
            name="conv2",
        )(out)
        if not equal_in_out:
            shortcut = nn.Conv(
                self.features,
                (1, 1),
                (self.stride, self.stride),
                padding="VALID",
                use_bias=False,
                kernel_init=_kaiming_normal,
                name="shortcut",
            )(shortcut)
        return out + shortcut


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` (Zagoruyko & Komodakis 2016); WRN-16-4 has about 2.75M params.

    conv3×3 16 → three groups of ``(depth - 4) / 6`` pre-activation blocks of widths
    ``16k, 32k, 64k`` (strides 1, 2, 2) → BN-ReLU → global average pool → linear.
    Dropout between the two convolutions of each block uses the ``dropout`` rng when ``train=True``.

    Attributes:
      depth: ``6n + 4`` (10, 16, 22, 28, 40, ...).
      widen_factor: width multiplier ``k``.
      num_classes: number of output logits.
      dropout_rate: dropout probability inside the blocks (0 disables it).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = WideResNet(depth=10, widen_factor=1)
        >>> x = jnp.zeros((2, 8, 8, 3))
        >>> variables = model.init(jax.random.key(0), x)
        >>> model.apply(variables, x).shape
        (2, 10)

    References:
      Zagoruyko, Komodakis, "Wide Residual Networks", BMVC 2016, https://arxiv.org/abs/1605.07146.
      Reference code: https://github.com/szagoruyko/wide-residual-networks
    """

    depth: int = 16
    widen_factor: int = 4
    num_classes: int = 10
    dropout_rate: float = 0.0

    def __post_init__(self):
        is_int = isinstance(self.depth, numbers.Integral) and not isinstance(self.depth, bool)
        if not is_int or self.depth < 10 or (self.depth - 4) % 6:
            raise ValueError(
                f"WideResNet depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...); "
                f"got {self.depth!r}."
            )
        if self.widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1; got {self.widen_factor}.")
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1); got {self.dropout_rate}.")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {self.num_classes}.")
        super().__post_init__()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"WideResNet expects NHWC images (N, H, W, C); got shape {x.shape}.")
        n = (self.depth - 4) // 6
        x = nn.Conv(
            16, (3, 3), padding=_PAD1, use_bias=False, kernel_init=_kaiming_normal, name="conv1"
        )(x)
        for group, width in enumerate((16, 32, 64)):
            for j in range(n):
                stride = 2 if group > 0 and j == 0 else 1
                x = WideBlock(
                    width * self.widen_factor,
                    stride,
                    self.dropout_rate,
                    name=f"block{group + 1}_{j}",
                )(x, train)
        x = nn.relu(_bn(train, "bn")(x))
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="fc")(x)
