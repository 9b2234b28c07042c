"""Multiply-accumulates (MACs) of matmuls and convolutions, counted from the jaxpr, per layer.

:func:`macs` traces a function with :func:`jax.make_jaxpr` (nothing is compiled or run) and counts
the MACs of every ``dot_general`` and ``conv_general_dilated``, descending into sub-jaxprs (``jit``,
``custom_jvp``/``custom_vjp``, ``remat``, ``scan`` × its length, the costliest ``cond`` branch,
``while`` bodies once, ``shard_map`` × the devices it runs on). Element-wise ops, reductions and
normalisation are not counted: they are the noise that papers leave out of their MAC figures.

**Per-layer names.** Flax Linen (0.12) runs every module method under ``jax.named_scope`` (the
``flax_profile`` flag), so each equation's ``source_info.name_stack`` holds the module path, e.g.
``M/blk/Dense_0``. We trace with that switched on (``nn.override_named_call(True)``), join the name
stacks of nested jaxprs, and tidy each path so that it reads like the parameter path of the layer:

- transformation wrappers are unwrapped (``transpose(jvp(M))`` → ``M``, ``vmap(vd)`` → ``vd``), so
  the backward matmuls of ``jax.grad`` are added to the layer they belong to;
- method components are dropped (``enc/enc.encode/a`` → ``enc/a``);
- the root module's name, common to every path, is dropped (``M/blk/Dense_0`` → ``blk/Dense_0``,
  matching ``params/blk/Dense_0/kernel``); ops in the root module itself keep the root's name.

Ops outside any named scope (plain JAX functions) are grouped under their primitive's name
(``dot_general``, ``conv_general_dilated``). We chose the name stack over recording
``module.path`` with ``nn.intercept_methods``: it needs no matching of calls to equations by
shape, covers ``nn.scan``/``nn.remat``/``nn.vmap`` and gradients, and works for any code that
uses ``jax.named_scope``.
Caveat: a function already traced by ``jax.jit`` with ``flax_profile`` off reuses its cached,
unnamed jaxpr.

Example:
    >>> import jax, jax.numpy as jnp
    >>> import flax.linen as nn
    >>> model = nn.Dense(5)
    >>> x = jnp.ones((4, 3))
    >>> variables = model.init(jax.random.key(0), x)
    >>> report = macs(model.apply, variables, x)
    >>> report.total, report.flops, report.per_layer
    (60, 120, {'Dense': 60})
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import flax.linen as nn
import jax
import numpy as np

_MAC_PRIMITIVES = ("dot_general", "conv_general_dilated")
_TRANSFORM = re.compile(r"^[\w.\-]+\((.*)\)$")


@dataclasses.dataclass(frozen=True)
class MacReport:
    """MACs of one call, in total and per layer.

    Attributes:
      total: multiply-accumulates of all matmuls and convolutions.
      per_layer: MACs per layer name (see the module docstring for how names are made), in
        first-use order; the values sum to ``total``.
    """

    total: int
    per_layer: dict[str, int]

    @property
    def flops(self) -> int:
        """Floating-point operations, counting a multiply-accumulate as two."""
        return 2 * self.total

    def table(self) -> str:
        """A plain-text table of the layers, their MACs and share of the total."""
        rows = [
            (name, f"{n:,}", f"{100 * n / self.total:.1f}%" if self.total else "-")
            for name, n in self.per_layer.items()
        ]
        rows.append(("total", f"{self.total:,}", "100.0%" if self.total else "-"))
        header = ("layer", "MACs", "share")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]

        def fmt(r):
            return f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}"

        sep = "-" * len(fmt(header))
        return "\n".join([fmt(header), sep, *map(fmt, rows[:-1]), sep, fmt(rows[-1])])


def _dot_general_macs(eqn) -> int:
    (lhs_contract, _), _ = eqn.params["dimension_numbers"]
    lhs_shape = eqn.invars[0].aval.shape
    out_size = math.prod(eqn.outvars[0].aval.shape)
    return out_size * math.prod(lhs_shape[d] for d in lhs_contract)


def _taps(
    out_len: int, window: int, stride: int, rhs_dil: int, pad_lo: int, in_len: int, lhs_dil: int
) -> int:
    """Number of (output position, kernel tap) pairs along one spatial dim that are not holes."""
    if lhs_dil == 1:
        return out_len * window
    j = np.arange(out_len)[:, None] * stride + np.arange(window)[None, :] * rhs_dil - pad_lo
    dilated_len = (in_len - 1) * lhs_dil + 1
    inside = (j >= 0) & (j < dilated_len)
    return int(np.count_nonzero(~inside | (j % lhs_dil == 0)))


def _conv_macs(eqn) -> int:
    # Every output element is a dot product over the kernel window and the input features of its
    # group (all rhs entries but its output-feature axis). Taps on padding count as data, as in the
    # usual formula; XLA's cost analysis skips them. (So the input gradient of a VALID conv, a
    # padded "full" conv, counts more than its forward pass.) Taps on the holes that
    # ``lhs_dilation`` inserts (input gradients of strided convs) are not multiplies: not counted.
    p = eqn.params
    dn = p["dimension_numbers"]
    lhs_shape = eqn.invars[0].aval.shape
    rhs_shape = eqn.invars[1].aval.shape
    out_shape = eqn.outvars[0].aval.shape
    macs = out_shape[dn.out_spec[0]] * out_shape[dn.out_spec[1]] * rhs_shape[dn.rhs_spec[1]]
    for i, (ld, od, rd) in enumerate(
        zip(dn.lhs_spec[2:], dn.out_spec[2:], dn.rhs_spec[2:], strict=True)
    ):
        macs *= _taps(
            out_shape[od],
            rhs_shape[rd],
            p["window_strides"][i],
            p["rhs_dilation"][i],
            p["padding"][i][0],
            lhs_shape[ld],
            p["lhs_dilation"][i],
        )
    return macs


def _sub_jaxprs(value: Any) -> Iterator[Any]:
    """Yields the (open) jaxprs inside one equation parameter."""
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _sub_jaxprs(v)


def _shard_map_devices(params: dict[str, Any]) -> int:
    mesh = params.get("mesh")
    axes = params.get("newly_manual_axes", params.get("manual_axes"))
    if mesh is None:
        return 1
    if axes is None:
        axes = mesh.axis_names
    return math.prod(dict(mesh.shape)[a] for a in axes)


def _is_array_like(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic | jax.ShapeDtypeStruct)


def _split(name_stack: Any) -> tuple[str, ...]:
    s = str(name_stack)
    return tuple(s.split("/")) if s else ()


def _count(jaxpr, prefix: tuple[str, ...]) -> collections.Counter:
    """MACs per raw name-stack tuple (``()`` for unnamed, with the primitive appended)."""
    counts: collections.Counter = collections.Counter()
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        stack = prefix + _split(eqn.source_info.name_stack)
        if name == "dot_general":
            counts[stack + (f"<{name}>",)] += _dot_general_macs(eqn)
        elif name == "conv_general_dilated":
            counts[stack + (f"<{name}>",)] += _conv_macs(eqn)
        elif name == "cond":
            branches = [_count(b, stack) for b in _sub_jaxprs(eqn.params["branches"])]
            counts.update(max(branches, key=lambda c: sum(c.values()), default={}))
        else:
            mult = 1
            if name == "scan":
                mult = int(eqn.params["length"])
            elif name == "shard_map":
                mult = _shard_map_devices(eqn.params)
            for value in eqn.params.values():
                for sub in _sub_jaxprs(value):
                    for k, v in _count(sub, stack).items():
                        counts[k] += mult * v
    return counts


def _tidy(stack: tuple[str, ...]) -> tuple[str, ...]:
    """Unwraps ``vmap(x)``-style components and drops ``module.method`` components."""
    out: list[str] = []
    for comp in stack:
        while (m := _TRANSFORM.match(comp)) is not None:
            comp = m.group(1)
        if not comp:
            continue
        if out and comp.startswith(out[-1] + "."):
            continue  # ``enc/enc.encode``: a method of the module just entered.
        out.append(comp)
    return tuple(out)


def _layer_names(raw: collections.Counter) -> dict[str, int]:
    tidy = [(_tidy(k[:-1]), k[-1][1:-1], v) for k, v in raw.items()]
    named = [t for t, _, _ in tidy if t]
    roots = {t[0] for t in named}
    strip = len(roots) == 1 and any(len(t) > 1 for t in named)
    per_layer: dict[str, int] = {}
    for stack, prim, v in tidy:
        if strip and len(stack) > 1:
            stack = stack[1:]
        key = "/".join(stack) if stack else prim
        per_layer[key] = per_layer.get(key, 0) + v
    return per_layer


def macs(apply_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> MacReport:
    """Counts the multiply-accumulates of ``apply_fn(*args, **kwargs)`` per layer, without running.

    Args:
      apply_fn: any traceable function, typically a Linen ``model.apply``; it may be jitted, use
        ``scan``, ``remat``, custom derivatives, or be a gradient function.
      *args: its positional arguments. Array leaves and :class:`jax.ShapeDtypeStruct` leaves
        (e.g. from :func:`jax.eval_shape`, so no memory is needed) are traced; every other leaf
        (Python numbers, strings, ...) is passed as a constant.
      **kwargs: keyword arguments passed through unchanged (e.g. ``train=False``).

    Returns:
      A :class:`MacReport` with the total and a per-layer breakdown.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> report = macs(lambda a, b: a @ b, jnp.ones((2, 3)), jnp.ones((3, 4)))
        >>> report.total, report.per_layer
        (24, {'dot_general': 24})
    """
    leaves, treedef = jax.tree.flatten(args)
    traced = [i for i, x in enumerate(leaves) if _is_array_like(x)]

    def fn(*dynamic):
        full = list(leaves)
        for i, x in zip(traced, dynamic, strict=True):
            full[i] = x
        return apply_fn(*jax.tree.unflatten(treedef, full), **kwargs)

    with nn.override_named_call(True):
        closed = jax.make_jaxpr(fn)(*[leaves[i] for i in traced])
    per_layer = _layer_names(_count(closed.jaxpr, ()))
    return MacReport(total=sum(per_layer.values()), per_layer=per_layer)


def xla_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> float:
    """FLOPs that XLA's cost analysis reports for ``jax.jit(fn)(*args, **kwargs)`` (cross-checks).

    Compiles (but does not run) ``fn``. XLA counts a multiply-add as 2 FLOPs, adds element-wise
    ops, skips convolution taps that fall on padding, and reports the program of *one* device when
    ``fn`` is sharded. Works with ``cost_analysis()`` returning a dict (JAX ≥ 0.4.30) or a list
    of dicts (older JAX).

    Example:
        >>> import jax.numpy as jnp
        >>> xla_flops(lambda a, b: a @ b, jnp.ones((2, 3)), jnp.ones((3, 4)))
        48.0
    """
    compiled = jax.jit(lambda *a: fn(*a, **kwargs)).lower(*args).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list | tuple):
        return float(sum(a.get("flops", 0.0) for a in analysis if a))
    return float((analysis or {}).get("flops", 0.0))
