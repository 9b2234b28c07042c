"""CIFAR ResNet with searchable block widths: the APS supernet and the stand-alone child network.

Search space (a simplification of Bai thesis §6.4, stated in docs/RESULTS.md): the
inner width ``m_b`` of every basic block ``b`` (the output of its first conv = the input of its
second conv) is chosen from per-stage candidates ``ratios × stage width`` (ResNet-20: 9 choices,
e.g. {4, 8, 12, 16} in stage 1). Stage widths stay 16/32/64 so the pretrained option-A identity
shortcuts apply unchanged; the thesis also searches stage widths, with 1×1-conv shortcuts.

:class:`APSResNet` holds per block a meta-weight ``W1 ∈ R^{3×3×s×c}`` and ``W2 ∈ R^{3×3×c×s}``
(``c`` = meta width) and builds the candidate kernels ``W1 P_a`` and ``Q_aᵀ W2`` from the block's
transforms (passed in, not trained by the task loss: ``stop_gradient``, as the reference code
detaches them). Candidate ``a`` is an integer *input*, so one compiled function serves all
``A^9`` architectures: candidates are zero-padded to the stage width and masked.
:class:`ChannelResNet` is the plain network of given inner widths.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.models import option_a_shortcut

_BN_EPS = 1e-5
_BN_MOMENTUM = 0.9
_PAD1 = ((1, 1), (1, 1))
STAGE_WIDTHS = (16, 32, 64)
_kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def _bn(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(
        use_running_average=not train, momentum=_BN_MOMENTUM, epsilon=_BN_EPS, name=name
    )


def _conv(x, kernel, stride):
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), _PAD1, dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def block_layout(depth: int = 20) -> list[tuple[int, int, int]]:
    """``(stage, stride, stage width)`` of every basic block of a ``6n+2`` CIFAR ResNet."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2 (20, 32, 56, ...), got {depth}.")
    n = (depth - 2) // 6
    return [(s, 2 if s > 0 and j == 0 else 1, STAGE_WIDTHS[s]) for s in range(3) for j in range(n)]


def candidate_widths(ratios: Sequence[float], depth: int = 20) -> list[tuple[int, ...]]:
    """Per block, the candidate inner widths ``round(r · stage width)`` (strictly increasing).

    Raises:
      ValueError: ratios not in (0, 1] or not increasing, or two ratios giving the same width.
    """
    r = [float(x) for x in ratios]
    if not r or any(not 0 < x <= 1 for x in r) or r != sorted(set(r)):
        raise ValueError(f"width ratios must be increasing values in (0, 1], got {ratios}.")
    out = []
    for _, _, s in block_layout(depth):
        w = tuple(max(1, round(x * s)) for x in r)
        if len(set(w)) != len(w):
            raise ValueError(f"width ratios {ratios} give repeated widths {w} at stage width {s}.")
        out.append(w)
    return out


class APSBlock(nn.Module):
    """A basic block whose inner width is candidate ``choice`` of ``widths`` via transforms."""

    planes: int
    stride: int
    widths: tuple[int, ...]
    meta_width: int

    @nn.compact
    def __call__(self, x, choice, p, q, train: bool = False):
        a, w_max = len(self.widths), max(self.widths)
        w1 = self.param("meta1", _kaiming_normal, (3, 3, x.shape[-1], self.meta_width))
        w2 = self.param("meta2", _kaiming_normal, (3, 3, self.meta_width, self.planes))
        k1 = jnp.einsum("hwim,mo->hwio", w1, jax.lax.stop_gradient(p[choice]))
        k2 = jnp.einsum("hwmo,mi->hwio", w2, jax.lax.stop_gradient(q[choice]))
        mask = (jnp.arange(w_max) < jnp.asarray(self.widths)[choice]).astype(x.dtype)
        # Per-candidate BatchNorm affine parameters (the reference code keeps a BN per candidate).
        s1 = self.param("bn1_scale", nn.initializers.ones, (a, w_max))[choice]
        b1 = self.param("bn1_bias", nn.initializers.zeros, (a, w_max))[choice]
        s2 = self.param("bn2_scale", nn.initializers.ones, (a, self.planes))[choice]
        b2 = self.param("bn2_bias", nn.initializers.zeros, (a, self.planes))[choice]
        h = _conv(x, k1, self.stride)
        h = _masked_bn(h, mask) * s1 + b1
        h = nn.relu(h) * mask
        h = _conv(h, k2, 1)
        h = _masked_bn(h, jnp.ones((self.planes,), h.dtype)) * s2 + b2
        if self.stride != 1 or x.shape[-1] != self.planes:
            x = option_a_shortcut(x, self.planes)
        return nn.relu(h + x)


def _masked_bn(h, mask):
    """Batch-statistics normalisation (search always uses batch statistics); masked → 0."""
    mean = jnp.mean(h, axis=(0, 1, 2))
    var = jnp.var(h, axis=(0, 1, 2))
    return (h - mean) * jax.lax.rsqrt(var + _BN_EPS) * mask


class APSResNet(nn.Module):
    """The APS supernet of a CIFAR ResNet: ``__call__(x, choices, transforms)``.

    Attributes:
      widths: per block, the candidate inner widths (see :func:`candidate_widths`).
      meta_widths: per block, the meta-weight width ``c``.
      depth, num_classes: the ResNet.

    ``choices`` is an int array (blocks,), ``transforms`` a list of ``{"p", "q"}`` per block with
    stacked ``(A, c, w_max)`` arrays. BatchNorms use batch statistics (the supernet is only used
    during search).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from efficient_jax.nas.channels import init_transforms
        >>> widths = candidate_widths((0.5, 1.0))
        >>> tr = [{"p": init_transforms("ordinal", max(w), w),
        ...        "q": init_transforms("ordinal", max(w), w)} for w in widths]
        >>> net = APSResNet(tuple(widths), tuple(max(w) for w in widths))
        >>> x = jnp.ones((2, 32, 32, 3))
        >>> v = net.init(jax.random.key(0), x, jnp.zeros(9, jnp.int32), tr)
        >>> net.apply(v, x, jnp.ones(9, jnp.int32), tr).shape
        (2, 10)
    """

    widths: tuple[tuple[int, ...], ...]
    meta_widths: tuple[int, ...]
    depth: int = 20
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, choices, transforms, train: bool = True):
        layout = block_layout(self.depth)
        if len(self.widths) != len(layout) or len(self.meta_widths) != len(layout):
            raise ValueError(f"need widths/meta_widths for {len(layout)} blocks.")
        x = nn.Conv(16, (3, 3), padding=_PAD1, use_bias=False, name="conv1")(x)
        scale = self.param("bn1_scale", nn.initializers.ones, (16,))
        bias = self.param("bn1_bias", nn.initializers.zeros, (16,))
        x = nn.relu(_masked_bn(x, jnp.ones((16,), x.dtype)) * scale + bias)
        for b, (_, stride, planes) in enumerate(layout):
            x = APSBlock(
                planes, stride, tuple(self.widths[b]), self.meta_widths[b], name=f"block{b}"
            )(x, choices[b], transforms[b]["p"], transforms[b]["q"], train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, kernel_init=_kaiming_normal, name="linear")(x)


class ChannelBlock(nn.Module):
    """conv3×3(s→m)-BN-ReLU-conv3×3(m→s)-BN + option-A shortcut, ReLU (inner width ``m``)."""

    planes: int
    stride: int
    width: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = lambda f, s, n: nn.Conv(  # noqa: E731
            f,
            (3, 3),
            strides=(s, s),
            padding=_PAD1,
            use_bias=False,
            kernel_init=_kaiming_normal,
            name=n,
        )
        out = nn.relu(_bn(train, "bn1")(conv(self.width, self.stride, "conv1")(x)))
        out = _bn(train, "bn2")(conv(self.planes, 1, "conv2")(out))
        if self.stride != 1 or x.shape[-1] != self.planes:
            x = option_a_shortcut(x, self.planes)
        return nn.relu(out + x)


class ChannelResNet(nn.Module):
    """A CIFAR ResNet whose blocks have inner widths ``widths`` (ResNet-20: 9 numbers).

    With ``widths = (16,)*3 + (32,)*3 + (64,)*3`` it is ResNet-20 (same parameter count).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> net = ChannelResNet((8, 8, 8, 16, 16, 16, 32, 32, 32))
        >>> v = net.init(jax.random.key(0), jnp.ones((1, 32, 32, 3)))
        >>> net.apply(v, jnp.ones((2, 32, 32, 3))).shape
        (2, 10)
    """

    widths: tuple[int, ...]
    depth: int = 20
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        layout = block_layout(self.depth)
        if len(self.widths) != len(layout) or any(int(w) < 1 for w in self.widths):
            raise ValueError(
                f"ChannelResNet-{self.depth} needs {len(layout)} positive widths, "
                f"got {self.widths}."
            )
        x = nn.Conv(
            16, (3, 3), padding=_PAD1, use_bias=False, kernel_init=_kaiming_normal, name="conv1"
        )(x)
        x = nn.relu(_bn(train, "bn1")(x))
        for b, (_, stride, planes) in enumerate(layout):
            x = ChannelBlock(planes, stride, int(self.widths[b]), name=f"block{b}")(x, train)
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, kernel_init=_kaiming_normal, name="linear")(x)


def resnet_macs(widths: Sequence[int], depth: int = 20, num_classes: int = 10, image: int = 32):
    """Multiply-accumulates of :class:`ChannelResNet` (convs + dense; the thesis' "FLOPs").

    Example:
        >>> resnet_macs((16,) * 3 + (32,) * 3 + (64,) * 3) / 1e6  # ResNet-20
        40.55...
    """
    layout = block_layout(depth)
    if len(widths) != len(layout):
        raise ValueError(f"need {len(layout)} widths for depth {depth}, got {len(widths)}.")
    hw = image
    total = 9 * 3 * 16 * hw * hw
    c_in = 16
    for (_, stride, planes), m in zip(layout, widths):
        hw = hw // stride
        total += 9 * c_in * int(m) * hw * hw + 9 * int(m) * planes * hw * hw
        c_in = planes
    return int(total + c_in * num_classes)


def uniform_widths(ratio: float, depth: int = 20) -> tuple[int, ...]:
    """Inner widths ``round(ratio · stage width)`` for every block (uniform scaling baseline)."""
    return tuple(max(1, round(ratio * s)) for _, _, s in block_layout(depth))


def choices_to_widths(choices: Sequence[int], widths: Sequence[Sequence[int]]) -> tuple[int, ...]:
    return tuple(int(widths[b][int(a)]) for b, a in enumerate(np.asarray(choices)))
