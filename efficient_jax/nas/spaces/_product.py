"""A generic product space: one independent choice per decision (MobileNet blocks, channels).

Example:
    >>> space = ProductSpace(names=("kernel", "expand"), choices=((3, 5, 7), (3, 4, 6)))
    >>> arch = space.arch((1, 2))
    >>> arch.values, space.size, arch.encode().shape, len(arch.neighbors())
    ((5, 6), 9, (6,), 4)
"""

from __future__ import annotations

import dataclasses
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
        return int(np.prod([len(c) for c in self.choices], dtype=np.float64))

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
