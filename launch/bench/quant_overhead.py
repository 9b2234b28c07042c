"""Train-step overhead of fake quantization (ours) vs float and qwix QAT, and an HLO pass check.

Command (CPU; about 10 minutes on 2 busy cores, mostly compilation)::

    python launch/bench/quant_overhead.py --out /tmp/quant_overhead.json [--lsq_ablation]

1. **Train-step time.** For ResNet-20 (CIFAR-shaped random images) and tiny BERT (hidden 128, 2
   layers, seq 64, random ids), the jitted train step (forward + backward + SGD update, ending in
   ``block_until_ready``) of: the float model; our fake-quant W8A8 (``preset_rules("w8a8")``);
   our LSQ W4A4 (``preset_rules("lsq_w4a4")``); for models with embeddings also both presets
   with the embeddings kept float (``*_kernels``: the scope qwix quantizes); qwix QAT int8
   (``QtProvider`` + ``QtRule(weight_qtype="int8", act_qtype="int8")`` on
   ``dot_general``/``conv_general_dilated``, dynamic per-channel absmax; skipped with a message if
   qwix is not importable). Each step is compiled first (excluded, like the warm-up calls); then
   the methods are called round-robin (the first method of each round rotates), so load on a
   shared machine hits all alike. Ratios of medians (and of 10th percentiles, less sensitive to
   other processes) are reported, with XLA's ``bytes accessed`` of each compiled step as a
   deterministic companion. ``--lsq_ablation`` adds two diagnostic LSQ W4A4 rows: a backward that
   multiplies by ``1 / step`` instead of dividing, and one without the step-size gradient.
2. **HLO weight passes.** The fake-quant W8A8 forward of a small Conv + Dense model (and qwix's)
   is lowered and compiled; in the optimized HLO we count the entry-computation instructions that
   read each weight parameter (see :func:`weight_readers`), plus ``cost_analysis()`` bytes
   accessed. "No extra pass over the weights" means as many readers as in the float program.

Writes a flat JSON (``--out``): ``<model>_<method>_ms`` medians, ``<model>_<ours>_vs_float_ratio``,
``<model>_<ours>_vs_qwix_int8_ratio`` (time ratios: < 1 means ours is faster), their ``_p10_``
variants, ``<model>_<method>_vs_float_bytes_ratio`` and the ``hlo_*`` figures. The table is
printed last.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from efficient_jax import cost, quant, train
from efficient_jax.models import get_model
from efficient_jax.qat import QUANT, STATS, QuantizedModel, QuantRule, prepare, preset_rules

PRESETS = ("w8a8", "lsq_w4a4")
# "<preset>_kernels": the preset with embeddings kept float, the scope qwix quantizes (matmul and
# convolution operands); only for models with an embedding table.
OURS = (*PRESETS, *(f"{p}_kernels" for p in PRESETS))
METHODS = ("float", *OURS, "qwix_int8")


# ---------------------------------------------------------------------------------------------
# Models and train steps


def model_and_batch(name: str, batch_size: int, *, vocab_size: int = 30522, seed: int = 0):
    """``(model, float variables, batch)`` with random inputs of the benchmark shapes."""
    key_x, key_y, key_init = jax.random.split(jax.random.key(seed), 3)
    labels = jax.random.randint(key_y, (batch_size,), 0, 2 if name == "tiny_bert" else 10)
    if name == "resnet20":
        model = get_model("resnet20")
        x = jax.random.normal(key_x, (batch_size, 32, 32, 3))
        batch = {"image": x, "label": labels}
    elif name == "tiny_bert":
        model = get_model(
            "tiny_bert", vocab_size=vocab_size, hidden_size=128, num_layers=2, max_position=64
        )
        x = jax.random.randint(key_x, (batch_size, 64), 0, vocab_size)
        batch = {"input_ids": x, "label": labels}
    else:
        raise ValueError(f"Unknown benchmark model {name!r}; valid: resnet20, tiny_bert.")
    variables = jax.jit(lambda k: model.init(k, x, train=False))(key_init)
    return model, variables, batch


def _state(params: Any, variables: Mapping[str, Any], tx: optax.GradientTransformation):
    return {
        "params": params,
        "batch_stats": variables.get("batch_stats", {}),
        "opt": tx.init(params),
        "step": jnp.zeros((), jnp.int32),
    }


def trainable_apply(qmodel: QuantizedModel, stats: Any) -> Callable[..., Any]:
    """``apply(variables, ...)`` with ``variables["params"] = {"params", "quant"}`` (as the QAT
    trainer wires it: latents and quantizer leaves are trained, calibration stats are fixed)."""

    def apply(variables, *args, **kwargs):
        full = {**variables, "params": variables["params"]["params"], STATS: stats}
        full[QUANT] = variables["params"][QUANT]
        return qmodel(full, *args, **kwargs)

    return apply


def qwix_model(model: nn.Module) -> nn.Module | None:
    """qwix QAT int8 (weights and activations, per-channel absmax, dynamic activation scale) on
    every matmul / convolution; ``None`` with a message if qwix is not importable."""
    try:
        import qwix
    except ImportError as e:
        print(f"qwix is not importable ({e}); skipping the qwix_int8 rows.", file=sys.stderr)
        return None
    rule = qwix.QtRule(
        module_path=".*",
        op_names=("dot_general", "conv_general_dilated"),
        weight_qtype="int8",
        act_qtype="int8",
    )
    return qwix.quantize_model(model, qwix.QtProvider([rule]))


def method_rules(method: str) -> list[QuantRule]:
    """The rules of one of our methods (see :data:`OURS`)."""
    if method.endswith("_kernels"):
        return [QuantRule(path_regex="embedding$"), *preset_rules(method.removesuffix("_kernels"))]
    return preset_rules(method)


def build_steps(
    name: str,
    batch_size: int,
    methods: tuple[str, ...],
    *,
    vocab_size: int = 30522,
    rules_of: Callable[[str], list[QuantRule]] = method_rules,
) -> tuple[dict[str, tuple[Callable[..., Any], Any]], dict[str, Any]]:
    """``({method: (jitted step, state)}, batch)`` for the methods of one model.

    ``rules_of(method)`` gives the rules of each of our methods (default :func:`method_rules`).
    """
    model, variables, batch = model_and_batch(name, batch_size, vocab_size=vocab_size)
    tx = optax.sgd(0.01, momentum=0.9)
    steps: dict[str, tuple[Callable[..., Any], Any]] = {}
    has_embedding = any("embedding" in str(p) for p, _ in jax.tree.leaves_with_path(variables))
    for method in methods:
        if method.endswith("_kernels") and not has_embedding:
            continue
        if method == "float":
            apply, state = model, _state(variables["params"], variables, tx)
        elif method in OURS:
            qat, qmodel = prepare(model, variables, rules_of(method), [batch])
            apply = trainable_apply(qmodel, qat[STATS])
            state = _state({"params": qat["params"], QUANT: qat[QUANT]}, variables, tx)
        elif method == "qwix_int8":
            apply = qwix_model(model)
            if apply is None:
                continue
            state = _state(variables["params"], variables, tx)
        else:
            raise ValueError(f"Unknown method {method!r}; valid: {list(METHODS)}.")
        steps[method] = (jax.jit(train.make_train_step(apply, tx, seed=0)), state)
    return steps, batch


def _sum_to_shape(t: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    lead = t.ndim - len(shape)
    t = t.sum(axis=tuple(range(lead))) if lead else t
    axes = tuple(i for i, (a, b) in enumerate(zip(t.shape, shape)) if b == 1 and a != 1)
    return t.sum(axis=axes, keepdims=True).reshape(shape) if axes else t.reshape(shape)


def lsq_variant(kind: str) -> quant.QuantizerSpec:
    """The ``"lsq"`` quantizer (symmetric) with another backward, as a quantizer spec named
    ``lsq_<kind>``: ``"mulbwd"`` computes ``v = x * (1 / s)`` (as the forward's ``encode``)
    instead of ``x / s``; ``"nostepgrad"`` returns a zero step gradient (an ablation bound: the
    cost of LSQ's step-size gradient, not a usable quantizer)."""

    @functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
    def lsq(x, step, qn, qp, grad_scale):
        return quant.decode(quant.encode(x, step, None, qn, qp), step, None)

    def fwd(x, step, qn, qp, grad_scale):
        return lsq(x, step, qn, qp, grad_scale), (x, step)

    def bwd(qn, qp, grad_scale, res, g):
        x, step = res
        v = x * (1 / step)
        small, big = v < qn, v > qp
        gx = jnp.where(small | big, jnp.zeros_like(g), g)
        if kind == "nostepgrad":
            return gx, jnp.zeros_like(step)
        dstep = jnp.where(small, qn, jnp.where(big, qp, jnp.round(v) - v))
        return gx, _sum_to_shape(dstep * g * grad_scale, step.shape)

    lsq.defvjp(fwd, bwd)
    core = jax.jit(lsq, static_argnums=(2, 3, 4))

    def apply(x, params, *, bits, symmetric=True, **options):
        if not symmetric:
            raise ValueError("The LSQ ablation variants are symmetric only.")
        x, step = jnp.asarray(x), jnp.asarray(params["step"])
        cdt = jnp.promote_types(x.dtype, jnp.float32)
        qn, qp = quant.qrange(bits, symmetric=True)
        s = jnp.maximum(jnp.abs(step.astype(cdt)), quant.EPS)  # as lsq_quantize
        grad_scale = 1.0 / math.sqrt(x.size // step.size * qp)
        return core(x.astype(cdt), s, qn, qp, grad_scale).astype(x.dtype)

    lsq_spec = quant.get_quantizer("lsq")
    return dataclasses.replace(lsq_spec, name=f"lsq_{kind}", apply=apply, reference="ablation")


def lsq_ablation_steps(
    name: str, batch_size: int, *, vocab_size: int = 30522
) -> dict[str, tuple[Callable[..., Any], Any]]:
    """LSQ W4A4 train steps with :func:`lsq_variant` quantizers (diagnosis only), registered in
    :data:`efficient_jax.quant.QUANTIZERS` as ``lsq_mulbwd`` / ``lsq_nostepgrad``."""
    out = {}
    for kind in ("mulbwd", "nostepgrad"):
        spec = lsq_variant(kind)
        if spec.name not in quant.QUANTIZERS:
            quant.register_quantizer(spec)
        rules = [
            dataclasses.replace(
                r,
                weight=spec.name if r.weight == "lsq" else r.weight,
                act=spec.name if r.act == "lsq" else r.act,
            )
            for r in preset_rules("lsq_w4a4")
        ]
        steps, _ = build_steps(
            name,
            batch_size,
            ("lsq_w4a4",),
            vocab_size=vocab_size,
            rules_of=lambda m, rules=rules: rules,
        )
        out[f"lsq_w4a4_{kind}"] = steps["lsq_w4a4"]
    return out


def interleaved_times(
    steps: Mapping[str, tuple[Callable[..., Any], Any]], batch: Any, *, warmup: int, iters: int
) -> dict[str, cost.LatencyStats]:
    """Per-method latency of ``step(state, batch)``, called round-robin after the warm-up.

    Each round times every method once; the first method rotates from round to round. States are
    not donated and the same state is reused, so every call does identical work.
    """
    names = list(steps)
    for name in names:
        fn, state = steps[name]
        for _ in range(warmup):
            jax.block_until_ready(fn(state, batch))
    times: dict[str, list[float]] = {n: [] for n in names}
    for i in range(iters):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            fn, state = steps[name]
            start = time.perf_counter()
            jax.block_until_ready(fn(state, batch))
            times[name].append(time.perf_counter() - start)
    return {n: cost.LatencyStats.from_times(t) for n, t in times.items()}


# ---------------------------------------------------------------------------------------------
# HLO: which compiled kernels read each weight

_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*?)\s+([\w\-]+)\((.*)$")
_PARAM = re.compile(r"\bparameter\((\d+)\)")
_COMMENT = re.compile(r"/\*.*?\*/")  # e.g. /*index=5*/ before every fifth operand
# Instructions that only reinterpret a buffer (no pass over the data).
_ALIASES = ("bitcast", "get-tuple-element")


def entry_instructions(hlo_text: str) -> list[tuple[str, str, list[str], str]]:
    """``(name, opcode, operand names, line)`` of every instruction of the ENTRY computation."""
    lines = hlo_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ENTRY"))
    out = []
    for line in lines[start + 1 :]:
        if line.startswith("}"):
            break
        m = _INSTR.match(line)
        if not m:
            continue
        name, _, opcode, rest = m.groups()
        depth, args = 1, []
        for j, ch in enumerate(rest):  # the balanced operand list of opcode(...)
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                operands = _split(_COMMENT.sub("", rest[:j]))
                args = [a.strip().split(" ")[-1].lstrip("%") for a in operands]
                break
        out.append((name, opcode, args, line))
    return out


def _split(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [p for p in parts + [cur] if p.strip()]


def weight_readers(hlo_text: str, param_index: int) -> list[str]:
    """Entry-computation instructions that read entry parameter ``param_index`` (directly or
    through ``bitcast``s): each is one kernel launch that streams the weight from memory.

    The criterion: a fused quantize-dequantize adds no pass over a weight iff the weight has as
    many readers in the fake-quant program as in the float one (one: the dot/convolution, or one
    fusion feeding it). A separate reduction (e.g. a per-call min/max range of the weight), a
    ``copy``/``transpose`` or an unfused elementwise op each add a reader.
    """
    instrs = entry_instructions(hlo_text)
    names = [n for n, op, _, line in instrs if op == "parameter" and _param_of(line) == param_index]
    if not names:
        raise ValueError(f"No entry parameter({param_index}) in the HLO.")
    frontier, readers = set(names), []
    changed = True
    while changed:
        changed = False
        for name, op, args, _ in instrs:
            if name in frontier or not frontier.intersection(args):
                continue
            if op in _ALIASES:
                frontier.add(name)
                changed = True
            elif name not in readers:
                readers.append(name)
    return readers


def _param_of(line: str) -> int | None:
    m = _PARAM.search(line)
    return int(m.group(1)) if m else None


def _weight_paths(tree: Any) -> dict[int, str]:
    """Flat argument index -> path of every ``kernel``/``embedding`` leaf of ``tree``."""
    leaves = jax.tree.flatten_with_path(tree)[0]
    out = {}
    for i, (path, _) in enumerate(leaves):
        s = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        if s.startswith("0/params/") and s.endswith(("kernel", "embedding")):
            out[i] = s[len("0/params/") :]
    return out


def hlo_passes(apply: Callable[..., Any], variables: Any, x: jax.Array) -> dict[str, Any]:
    """Compiles ``apply(variables, x)`` (all arguments kept, so entry parameter ``i`` is flat leaf
    ``i``); returns ``{"readers": {weight path: [reader names]}, "bytes": bytes accessed,
    "hlo": text}``."""
    compiled = jax.jit(apply, keep_unused=True).lower(variables, x).compile()
    text = compiled.as_text()
    readers = {p: weight_readers(text, i) for i, p in _weight_paths((variables, x)).items()}
    return {"readers": readers, "bytes": bytes_accessed(compiled), "hlo": text}


def bytes_accessed(compiled: Any) -> float:
    """XLA's ``cost_analysis()["bytes accessed"]`` of a compiled program."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list | tuple):
        analysis = analysis[0]
    return float(analysis.get("bytes accessed", 0.0))


class SmallConvNet(nn.Module):
    """Conv 3x3 (16) -> ReLU -> Dense(10): the HLO check's model."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.relu(nn.Conv(16, (3, 3), name="conv")(x))
        return nn.Dense(10, name="dense")(x.reshape(x.shape[0], -1))


def hlo_check(rules_name: str = "w8a8", *, batch_size: int = 8, qwix: bool = True) -> dict:
    """Float vs fake-quant (vs qwix int8 QAT) forward of :class:`SmallConvNet`: weight readers and
    bytes accessed; ``{"float"|"quant"|"qwix": hlo_passes(...)}``."""
    model = SmallConvNet()
    x = jax.random.normal(jax.random.key(0), (batch_size, 16, 16, 3))
    variables = model.init(jax.random.key(1), x)
    qat, qmodel = prepare(model, variables, preset_rules(rules_name), [x])
    out = {"float": hlo_passes(model.apply, variables, x), "quant": hlo_passes(qmodel, qat, x)}
    qm = qwix_model(model) if qwix else None
    if qm is not None:
        out["qwix"] = hlo_passes(qm.apply, variables, x)
    return out


# ---------------------------------------------------------------------------------------------
# Main


def run(args: argparse.Namespace) -> dict[str, float]:
    methods = tuple(m for m in METHODS if not (args.skip_qwix and m == "qwix_int8"))
    results: dict[str, float] = {}
    rows: list[tuple[str, str, float, float, float, float]] = []
    for name in args.models.split(","):
        print(f"[{name}] building and compiling {', '.join(methods)} ...", flush=True)
        steps, batch = build_steps(name, args.batch_size, methods, vocab_size=args.vocab_size)
        if args.lsq_ablation:
            steps.update(lsq_ablation_steps(name, args.batch_size, vocab_size=args.vocab_size))
        compiled, step_bytes = {}, {}
        for method, (fn, state) in steps.items():
            if hasattr(fn, "lower"):
                fn = fn.lower(state, batch).compile()
            compiled[method] = (fn, state)
            step_bytes[method] = bytes_accessed(compiled[method][0])
        stats = interleaved_times(compiled, batch, warmup=args.warmup, iters=args.iters)
        base = stats["float"].median
        for method, st in stats.items():
            results[f"{name}_{method}_ms"] = st.median * 1e3
            bytes_ratio = step_bytes[method] / step_bytes["float"]
            if method != "float":
                results[f"{name}_{method}_vs_float_ratio"] = st.median / base
                # p10: less sensitive to other processes on a shared machine.
                results[f"{name}_{method}_vs_float_p10_ratio"] = st.p10 / stats["float"].p10
                results[f"{name}_{method}_vs_float_bytes_ratio"] = bytes_ratio
            p10_ratio = st.p10 / stats["float"].p10
            rows.append((name, method, st.median * 1e3, st.median / base, p10_ratio, bytes_ratio))
        if "qwix_int8" in stats:
            for ours in stats:
                if ours in ("float", "qwix_int8"):
                    continue
                ratio = stats[ours].median / stats["qwix_int8"].median
                results[f"{name}_{ours}_vs_qwix_int8_ratio"] = ratio
                ratio = stats[ours].p10 / stats["qwix_int8"].p10
                results[f"{name}_{ours}_vs_qwix_int8_p10_ratio"] = ratio
    hlo = hlo_check(qwix=not args.skip_qwix)
    for label in hlo:
        for path, readers in hlo[label]["readers"].items():
            key = path.replace("/", "_")
            results[f"hlo_{label}_{key}_readers"] = len(readers)
        results[f"hlo_{label}_bytes_accessed"] = hlo[label]["bytes"]
    results["hlo_w8a8_vs_float_bytes_ratio"] = hlo["quant"]["bytes"] / hlo["float"]["bytes"]
    if "qwix" in hlo:
        results["hlo_w8a8_vs_qwix_int8_bytes_ratio"] = hlo["quant"]["bytes"] / hlo["qwix"]["bytes"]
    results["iters"] = args.iters
    results["batch_size"] = args.batch_size

    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
        os.replace(tmp, args.out)

    print(
        f"\nHLO forward of SmallConvNet (batch 8, {jax.default_backend()}): "
        "kernels reading each weight"
    )
    for label in hlo:
        for path, readers in hlo[label]["readers"].items():
            print(f"  {label:6s} {path:14s} {len(readers)} {readers}")
    for label in hlo:
        print(f"  {label:6s} bytes accessed {hlo[label]['bytes']:.0f}")
    print(f"\nTrain step (fwd+bwd+SGD), batch {args.batch_size}, {args.iters} interleaved rounds:")
    print("(bytes: XLA cost_analysis 'bytes accessed' of the compiled step, ratio to float)")
    head = f"{'model':10s} {'method':20s} {'median ms':>10s} {'vs float':>9s} {'p10 vs float':>13s}"
    print(head + f" {'bytes vs float':>15s}")
    for name, method, ms, ratio, p10_ratio, bratio in rows:
        print(f"{name:10s} {method:20s} {ms:10.2f} {ratio:9.3f} {p10_ratio:13.3f} {bratio:15.3f}")
    qwix_rows = {k: v for k, v in results.items() if "_vs_qwix_int8" in k and "bytes" not in k}
    for k, v in sorted(qwix_rows.items()):
        print(f"  {k} = {v:.3f}")
    return results


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="", help="JSON file for the figures")
    p.add_argument("--iters", type=int, default=20, help="interleaved timed rounds")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per method")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--models", default="resnet20,tiny_bert")
    p.add_argument("--vocab_size", type=int, default=30522, help="tiny BERT vocabulary")
    p.add_argument("--skip_qwix", action="store_true", help="omit the qwix rows")
    p.add_argument(
        "--lsq_ablation",
        action="store_true",
        help="add LSQ W4A4 rows with a multiply-by-reciprocal backward and with no step gradient",
    )
    args = p.parse_args(argv)
    if args.iters < 1 or args.warmup < 1 or args.batch_size < 1:
        raise ValueError("--iters, --warmup and --batch_size must be >= 1.")
    return run(args)


if __name__ == "__main__":
    main()
