"""APS channel search pieces: the search space, transforms per strategy, Φ of a network, weight
inheritance from a pretrained ResNet and extraction of the searched child (Bai thesis §6.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax.nas.channels._resnet import (
    APSResNet,
    ChannelResNet,
    block_layout,
    candidate_widths,
    choices_to_widths,
    resnet_macs,
)
from efficient_jax.nas.channels._sharing import (
    APS_STRATEGIES,
    column_mask,
    gram_norms,
    init_transforms,
    normalize_columns,
)


@dataclasses.dataclass(frozen=True)
class APSSpace:
    """Candidate inner widths per block and the shared meta-weight width (``Σ`` candidates, so
    that independent selection fits; the thesis uses ``c = 208 = 16+32+64+96`` likewise)."""

    widths: tuple[tuple[int, ...], ...]
    depth: int = 20

    @property
    def meta_widths(self) -> tuple[int, ...]:
        return tuple(sum(w) for w in self.widths)

    @property
    def num_blocks(self) -> int:
        return len(self.widths)

    @property
    def num_choices(self) -> int:
        return len(self.widths[0])

    def model(self, num_classes: int = 10) -> APSResNet:
        return APSResNet(self.widths, self.meta_widths, self.depth, num_classes)

    def macs(self, choices: Sequence[int]) -> int:
        return resnet_macs(choices_to_widths(choices, self.widths), self.depth)

    def macs_range(self) -> tuple[int, int]:
        a = self.num_choices
        return self.macs([0] * self.num_blocks), self.macs([a - 1] * self.num_blocks)

    def check_target(self, target_macs: float) -> None:
        """Raises ValueError if no architecture of the space meets ``target_macs``."""
        lo, hi = self.macs_range()
        if not target_macs > 0 or target_macs < lo:
            raise ValueError(
                f"FLOPs target {target_macs:,.0f} MACs is below the smallest architecture of the "
                f"space ({lo:,} MACs, all blocks at the narrowest candidate); allowed: "
                f"[{lo:,}, {hi:,}] (above {hi:,} every architecture meets it)."
            )


def make_space(ratios: Sequence[float], depth: int = 20) -> APSSpace:
    """The space of per-block inner widths ``ratios × stage width``.

    Example:
        >>> s = make_space((0.25, 0.5, 0.75, 1.0))
        >>> s.widths[0], s.meta_widths[-1], s.num_blocks
        ((4, 8, 12, 16), 160, 9)
    """
    return APSSpace(tuple(candidate_widths(ratios, depth)), depth)


def init_aps_transforms(
    space: APSSpace, strategy: str, *, key: jax.Array, noise: float = 1e-2
) -> list[dict[str, jax.Array]]:
    """Per block ``{"p", "q"}`` stacked transforms for APS-O / APS-I / APS-T.

    APS-T starts at the ordinal (maximal-Φ) transforms plus ``N(0, noise²)`` and unit-normalised
    columns (as the reference code): the exact ordinal point is a stationary point of the
    projected descent, so a small perturbation is needed to leave it.
    """
    if strategy not in APS_STRATEGIES:
        raise ValueError(f"Unknown APS strategy {strategy!r}; valid: {APS_STRATEGIES}.")
    base = "independent" if strategy == "independent" else "ordinal"
    out = []
    for b, (w, c) in enumerate(zip(space.widths, space.meta_widths)):
        t = {}
        for side, k in zip(("p", "q"), jax.random.split(jax.random.fold_in(key, b))):
            x = init_transforms(base, c, w)
            if strategy == "transition" and noise > 0:
                m = column_mask(w)
                x = normalize_columns(x + noise * jax.random.normal(k, x.shape) * m[:, None], m)
            t[side] = x
        out.append(t)
    return out


def network_sharing_level(transforms: Sequence[dict[str, jax.Array]], depth: int = 20) -> jax.Array:
    """Σ over searched convs of Φ (Eq. 6.10 with ≤). A block's first conv has a fixed input side
    (``‖I_s‖_F² = s``) and searched outputs ``P``; its second conv searched inputs ``Q`` and a fixed
    output side."""
    layout = block_layout(depth)
    total = jnp.zeros((), jnp.float32)
    c_in = 16
    for (_, _, planes), t in zip(layout, transforms):
        for side, fixed in (("p", c_in), ("q", planes)):
            g = gram_norms(t[side])
            total = total + fixed * jnp.sum(jnp.triu(g))
        c_in = planes
    return total


def _basis_index(t: jax.Array, width: int) -> np.ndarray:
    return np.asarray(jnp.argmax(jnp.abs(t[:, :width]), axis=0))


def init_from_pretrained(
    aps_params: dict[str, Any], pretrained: dict[str, Any], space: APSSpace, transforms
) -> dict[str, Any]:
    """Copies a pretrained CIFAR ResNet (``load_pytorch_resnet`` params) into the APS supernet.

    Every candidate starts as the ordinal slice of the pretrained kernel: meta-weight rows that a
    candidate's (basis-vector) transform selects get the first ``c_a`` pretrained channels, so
    candidate ``a`` of APS-O, APS-I and APS-T computes the same function at the start. Rows no
    candidate selects keep their random initialisation.
    """
    p = jax.tree.map(np.array, aps_params)
    src = jax.tree.map(np.asarray, pretrained)
    p["conv1"]["kernel"] = src["conv1"]["kernel"]
    p["bn1_scale"], p["bn1_bias"] = src["bn1"]["scale"], src["bn1"]["bias"]
    p["linear"] = dict(src["linear"])
    n = (space.depth - 2) // 6
    for b, widths in enumerate(space.widths):
        layer = src[f"layer{b // n + 1}_{b % n}"]
        blk = p[f"block{b}"]
        for a, c_a in enumerate(widths):
            rows_p = _basis_index(transforms[b]["p"][a], c_a)
            rows_q = _basis_index(transforms[b]["q"][a], c_a)
            blk["meta1"][..., rows_p] = layer["conv1"]["kernel"][..., :c_a]
            blk["meta2"][:, :, rows_q, :] = layer["conv2"]["kernel"][:, :, :c_a, :]
            blk["bn1_scale"][a, :c_a] = layer["bn1"]["scale"][:c_a]
            blk["bn1_bias"][a, :c_a] = layer["bn1"]["bias"][:c_a]
            blk["bn2_scale"][a] = layer["bn2"]["scale"]
            blk["bn2_bias"][a] = layer["bn2"]["bias"]
    return jax.tree.map(jnp.asarray, p)


def extract_child(
    aps_params: dict[str, Any], transforms, choices: Sequence[int], space: APSSpace
) -> tuple[ChannelResNet, dict[str, Any]]:
    """The stand-alone :class:`ChannelResNet` of ``choices`` with the candidate kernels
    ``W1 P_a`` / ``Q_aᵀ W2`` as its weights (running statistics reset to mean 0, variance 1)."""
    choices = [int(a) for a in choices]
    widths = choices_to_widths(choices, space.widths)
    model = ChannelResNet(widths, space.depth)
    p = aps_params
    params: dict[str, Any] = {
        "conv1": {"kernel": p["conv1"]["kernel"]},
        "bn1": {"scale": p["bn1_scale"], "bias": p["bn1_bias"]},
        "linear": dict(p["linear"]),
    }
    stats: dict[str, Any] = {"bn1": {"mean": jnp.zeros(16), "var": jnp.ones(16)}}
    for b, (a, m) in enumerate(zip(choices, widths)):
        blk, t = p[f"block{b}"], transforms[b]
        k1 = jnp.einsum("hwim,mo->hwio", blk["meta1"], t["p"][a])[..., :m]
        k2 = jnp.einsum("hwmo,mi->hwio", blk["meta2"], t["q"][a])[:, :, :m, :]
        planes = k2.shape[-1]
        params[f"block{b}"] = {
            "conv1": {"kernel": k1},
            "conv2": {"kernel": k2},
            "bn1": {"scale": blk["bn1_scale"][a, :m], "bias": blk["bn1_bias"][a, :m]},
            "bn2": {"scale": blk["bn2_scale"][a], "bias": blk["bn2_bias"][a]},
        }
        stats[f"block{b}"] = {
            "bn1": {"mean": jnp.zeros(m), "var": jnp.ones(m)},
            "bn2": {"mean": jnp.zeros(planes), "var": jnp.ones(planes)},
        }
    return model, {"params": params, "batch_stats": stats}


def within_budget(space: APSSpace, max_macs: float) -> Callable[[tuple[int, ...]], bool]:
    """Predicate for :func:`beam_search`: can this prefix still end at ``≤ max_macs`` MACs
    if every remaining block takes its narrowest width (MACs grow with every block's width)?

    Example:
        >>> space = make_space((0.5, 1.0))
        >>> ok = within_budget(space, space.macs((0,) * space.num_blocks))
        >>> ok((0, 0)), ok((1,))
        (True, False)
    """

    def feasible(prefix: tuple[int, ...]) -> bool:
        rest = space.num_blocks - len(prefix)
        return space.macs(tuple(prefix) + (0,) * rest) <= max_macs

    return feasible


def pick_architecture(
    candidates: Sequence[tuple[Sequence[int], float]], space: APSSpace, target_macs: float
) -> tuple[tuple[int, ...], int]:
    """Among beam-search candidates, the one closest to the FLOPs target without exceeding it
    (the closest overall if none fits), as in Algorithm 4's final step."""
    if not candidates:
        raise ValueError("pick_architecture needs at least one candidate.")
    scored = [(tuple(int(a) for a in seq), space.macs(seq)) for seq, _ in candidates]
    fitting = [s for s in scored if s[1] <= target_macs]
    pool = fitting or scored
    return min(pool, key=lambda s: abs(s[1] - target_macs))
