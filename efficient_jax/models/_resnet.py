"""CIFAR ResNet-20/32/44/56 with option-A (parameter-free) shortcuts.

A port of akamaster/pytorch_resnet_cifar10 (``resnet.py``), keeping its layer names so that its
PyTorch checkpoints convert one to one (see :func:`load_pytorch_resnet`): ``conv1``/``bn1``, three
stages ``layer{1,2,3}_{j}`` of ``n`` basic blocks (widths 16, 32, 64), global average pool and
``linear``. ``depth = 6n + 2``.

Differences from PyTorch that do not change the inference function: flax BatchNorm updates its
running variance with the biased batch variance (PyTorch uses the unbiased one).
"""

from __future__ import annotations

import numbers

import flax.linen as nn
import jax
import jax.numpy as jnp

RESNET_DEPTHS = (20, 32, 44, 56, 110)  # The usual ones; any 6n + 2 (n >= 1) is accepted.

# PyTorch BatchNorm2d defaults: eps=1e-5, momentum=0.1 (flax counts momentum the other way).
_BN_EPS = 1e-5
_BN_MOMENTUM = 0.9
# Explicit PyTorch-style padding=1: flax 'SAME' pads (0, 1) for stride 2, which would break the
# equivalence with PyTorch weights.
_PAD1 = ((1, 1), (1, 1))
_kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def _conv3x3(features: int, stride: int, name: str) -> nn.Conv:
    return nn.Conv(
        features,
        (3, 3),
        strides=(stride, stride),
        padding=_PAD1,
        use_bias=False,
        kernel_init=_kaiming_normal,
        name=name,
    )


def _batch_norm(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(
        use_running_average=not train, momentum=_BN_MOMENTUM, epsilon=_BN_EPS, name=name
    )


def option_a_shortcut(x: jax.Array, planes: int) -> jax.Array:
    """He et al.'s option-A shortcut: stride-2 subsampling and zero channels on both sides.

    Mirrors ``F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))`` in NHWC layout.

    Example:
        >>> import jax.numpy as jnp
        >>> option_a_shortcut(jnp.ones((1, 8, 8, 16)), planes=32).shape
        (1, 4, 4, 32)
    """
    pad = planes // 4
    return jnp.pad(x[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (pad, pad)))


class BasicBlock(nn.Module):
    """conv3×3-BN-ReLU-conv3×3-BN plus an identity / option-A shortcut, then ReLU."""

    planes: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        out = nn.relu(_batch_norm(train, "bn1")(_conv3x3(self.planes, self.stride, "conv1")(x)))
        out = _batch_norm(train, "bn2")(_conv3x3(self.planes, 1, "conv2")(out))
        if self.stride != 1 or x.shape[-1] != self.planes:
            x = option_a_shortcut(x, self.planes)
        return nn.relu(out + x)


class ResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016, §4.2) with option-A shortcuts; ``depth = 6n + 2``.

    ResNet-20 has 269,722 parameters (0.27M, as in the paper's Table 6).

    Attributes:
      depth: total number of weighted layers, ``6n + 2`` (20, 32, 44, 56, 110, ...).
      num_classes: number of output logits.
      width: channels of the first stage (the stages have ``width, 2·width, 4·width``); 16 is
        the paper's network, other values give the width-scaled family of cost-aware comparisons.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = ResNet(depth=20)
        >>> x = jnp.zeros((2, 32, 32, 3))
        >>> variables = model.init(jax.random.key(0), x)
        >>> logits, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
        >>> logits.shape
        (2, 10)

    References:
      He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
      https://arxiv.org/abs/1512.03385. Reference code: https://github.com/akamaster/pytorch_resnet_cifar10
    """

    depth: int = 20
    num_classes: int = 10
    width: int = 16

    def __post_init__(self):
        is_int = isinstance(self.depth, numbers.Integral) and not isinstance(self.depth, bool)
        if not is_int or self.depth < 8 or (self.depth - 2) % 6:
            raise ValueError(
                f"ResNet depth must be 6n + 2 with n >= 1 (e.g. {RESNET_DEPTHS}); "
                f"got {self.depth!r}."
            )
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {self.num_classes}.")
        if self.width < 1:
            raise ValueError(f"width must be a positive integer; got {self.width}.")
        super().__post_init__()

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"ResNet expects NHWC images (N, H, W, C); got shape {x.shape}.")
        w = self.width
        x = nn.relu(_batch_norm(train, "bn1")(_conv3x3(w, 1, "conv1")(x)))
        for stage, planes in enumerate((w, 2 * w, 4 * w)):
            for j in range(self.blocks_per_stage):
                stride = 2 if stage > 0 and j == 0 else 1
                x = BasicBlock(planes, stride, name=f"layer{stage + 1}_{j}")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, kernel_init=_kaiming_normal, name="linear")(x)


def resnet20(num_classes: int = 10, width: int = 16) -> ResNet:
    """ResNet-20 (0.27M parameters at ``width=16``)."""
    return ResNet(depth=20, num_classes=num_classes, width=width)


def resnet32(num_classes: int = 10, width: int = 16) -> ResNet:
    """ResNet-32 (0.46M parameters)."""
    return ResNet(depth=32, num_classes=num_classes, width=width)


def resnet44(num_classes: int = 10, width: int = 16) -> ResNet:
    """ResNet-44 (0.66M parameters)."""
    return ResNet(depth=44, num_classes=num_classes, width=width)


def resnet56(num_classes: int = 10, width: int = 16) -> ResNet:
    """ResNet-56 (0.85M parameters)."""
    return ResNet(depth=56, num_classes=num_classes, width=width)
