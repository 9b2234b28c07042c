"""A generic product space: one independent choice per decision (MobileNet blocks, channels).

Example:
    >>> space = ProductSpace(names=("kernel", "expand"), choices=((3, 5, 7), (3, 4, 6)))
    >>> arch = space.arch((1, 2))
    >>> arch.values, space.size, arch.encode().shape, len(arch.neighbors())
    ((5, 6), 9, (6,), 4)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class ProductSpace:
    """``choices[i]`` are the allowed values of decision ``names[i]``."""

    names: tuple[str, ...]
    choices: tuple[tuple[Any, ...], ...]

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "choices", tuple(tuple(c) for c in self.choices))
        if len(self.names) != len(self.choices) or not self.names:
            raise ValueError("ProductSpace needs one non-empty choice tuple per name.")
        if any(len(c) == 0 for c in self.choices):
            raise ValueError("Every decision of a ProductSpace needs at least one choice.")

    @property
    def size(self) -> int:
        return math.prod(len(c) for c in self.choices)

    def arch(self, indices) -> ProductArch:
        return ProductArch(self, tuple(int(i) for i in indices))

    def sample(self, key: jax.Array) -> ProductArch:
        keys = jax.random.split(key, len(self.choices))
        return self.arch(
            int(jax.random.randint(k, (), 0, len(c))) for k, c in zip(keys, self.choices)
        )


@dataclasses.dataclass(frozen=True)
class ProductArch:
    """A point of a :class:`ProductSpace`: one choice index per decision."""

    space: ProductSpace
    indices: tuple[int, ...]

    def __post_init__(self):
        if len(self.indices) != len(self.space.choices):
            raise ValueError(
                f"Need {len(self.space.choices)} choice indices, got {len(self.indices)}."
            )
        for name, i, c in zip(self.space.names, self.indices, self.space.choices):
            if not 0 <= i < len(c):
                raise ValueError(f"Choice {i} out of range for {name!r}; allowed 0..{len(c) - 1}.")

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(c[i] for c, i in zip(self.space.choices, self.indices))

    def encode(self) -> np.ndarray:
        """Concatenated one-hot vectors, one per decision."""
        parts = []
        for c, i in zip(self.space.choices, self.indices):
            v = np.zeros(len(c), np.float32)
            v[i] = 1.0
            parts.append(v)
        return np.concatenate(parts)

    def neighbors(self) -> list[ProductArch]:
        """All archs that differ in exactly one decision."""
        out = []
        for d, c in enumerate(self.space.choices):
            for j in range(len(c)):
                if j != self.indices[d]:
                    out.append(self.space.arch(self.indices[:d] + (j,) + self.indices[d + 1 :]))
        return out

    def tv_distance(self, other: ProductArch) -> float:
        return float(sum(a != b for a, b in zip(self.indices, other.indices)))

    def hash(self) -> str:
        return ",".join(map(str, self.indices))


def sample_pool(space: ProductSpace, key: jax.Array, n: int) -> list[ProductArch]:
    """``n`` uniform samples of ``space`` (with replacement): the pool of open-domain WeakNAS.

    Example:
        >>> pool = sample_pool(mobilenet_space(), jax.random.key(0), 4)
        >>> len(pool), pool[0].encode().shape
        (4, (135,))
    """
    if n <= 0:
        raise ValueError(f"sample_pool needs n > 0, got {n}.")
    keys = jax.random.split(key, len(space.choices))
    cols = [np.asarray(jax.random.randint(k, (n,), 0, len(c))) for k, c in zip(keys, space.choices)]
    return [space.arch(row) for row in np.stack(cols, 1)]


def mobilenet_space(
    stages: int = 5,
    max_depth: int = 4,
    kernels: tuple[int, ...] = (3, 5, 7),
    expand_ratios: tuple[int, ...] = (3, 4, 6),
    depths: tuple[int, ...] = (2, 3, 4),
) -> ProductSpace:
    """The MobileNetV3-style (Once-for-All) space used by WeakNAS's open-domain search.

    Decisions: ``depth_s`` per stage, then ``kernel_s_b`` and ``expand_s_b`` for every block slot.
    Blocks ``b >= depth_s`` are skipped by the network, so their choices do not change it; the
    encoding keeps them (as the WeakNAS code does with its fixed-length vectors).

    Reference: Wu thesis §3 (open domain, MobileNet space ≈ 10¹⁸ cells); Cai et al., OFA (2020).

    Example:
        >>> space = mobilenet_space()
        >>> len(space.names), f"{space.size:.2e}"
        (45, '2.95e+21')
    """
    if stages <= 0 or max_depth <= 0:
        raise ValueError(f"stages and max_depth must be positive; got {stages}, {max_depth}.")
    if not depths or max(depths) > max_depth or min(depths) < 1:
        raise ValueError(f"depths must lie in 1..max_depth={max_depth}; got {depths}.")
    names, choices = [], []
    for s in range(stages):
        names.append(f"depth_{s}")
        choices.append(tuple(depths))
    for s in range(stages):
        for b in range(max_depth):
            names += [f"kernel_{s}_{b}", f"expand_{s}_{b}"]
            choices += [tuple(kernels), tuple(expand_ratios)]
    return ProductSpace(tuple(names), tuple(choices))


def channel_space(
    widths: dict[str, int],
    multipliers: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0),
    divisor: int = 1,
) -> ProductSpace:
    """Channel-number search: each named layer picks a width ``round(base × m)`` (≥ ``divisor``).

    Args:
      widths: layer name → full width (e.g. the output channels of each ResNet-20 stage).
      multipliers: width multipliers in (0, 1].
      divisor: widths are rounded to a multiple of this (8 is common on accelerators).

    Example:
        >>> space = channel_space({"stage1": 16, "stage2": 32, "stage3": 64}, divisor=4)
        >>> space.choices[0], space.size
        ((4, 8, 12, 16), 64)
    """
    if not widths:
        raise ValueError("channel_space needs at least one layer width.")
    if not multipliers or any(not 0 < m <= 1 for m in multipliers):
        raise ValueError(f"multipliers must lie in (0, 1]; got {multipliers}.")
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}.")
    choices = []
    for name, base in widths.items():
        if base < 1:
            raise ValueError(f"width of {name!r} must be >= 1, got {base}.")
        options = sorted(
            {max(divisor, int(round(base * m / divisor)) * divisor) for m in multipliers}
        )
        choices.append(tuple(options))
    return ProductSpace(tuple(widths), tuple(choices))
