"""Quickstart: train LeNet-5 on the bundled digits, then run every registered compressor.

Prints a table (method, accuracy, model KB, compression ratio, MACs) and writes
``workdir/results.json`` and ``workdir/accuracy_vs_size.png``.
"""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import ml_collections

from efficient_jax import compressors, cost, data, train
from efficient_jax.trainers import _pipeline
from efficient_jax.trainers._plots import plot_accuracy_vs_size
from efficient_jax.trainers.classification import train_model

log = logging.getLogger("efficient_jax")


def _compressor_names(config: ml_collections.ConfigDict) -> list[str]:
    names = list(config.get("compressors") or [])
    if not names or names == ["all"]:
        return compressors.available_compressors()
    for n in names:
        compressors.get_compressor(n)  # Fails early, listing the valid names.
    return names


def format_table(rows: list[dict]) -> str:
    """A fixed-width table of the compression rows."""
    head = (
        f"{'method':<22} {'accuracy':>9} {'model KB':>10} {'ratio':>7} {'MACs':>10} {'energy':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        gain = r.get("energy_gain")
        lines.append(
            f"{r['method']:<22} {100 * r['accuracy']:>8.2f}% {r['model_kb']:>10.1f} "
            f"{r['compression_ratio']:>6.1f}x {r['macs']:>10,} "
            + (f"{gain:>6.1f}x" if gain else f"{'n/a':>7}")
        )
    return "\n".join(lines)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> list[dict]:
    """Trains the float model, compresses it with each method; returns the table rows."""
    start = time.perf_counter()
    names = _compressor_names(config)
    if config.calib_size <= 0:
        raise ValueError(f"config.calib_size must be positive; got {config.calib_size}.")
    writer = train.MetricWriter(workdir)
    writer.write_config(config)
    s = _pipeline.setup(config)
    state = train_model(s, workdir, writer)
    variables = jax.device_get(train.state_variables(state))
    evaluate = _pipeline.make_evaluator(s)
    calib_host = data.batch_at(s.train_data, 0, config.calib_size, seed=config.seed)
    calib = s.preprocess(jax.tree.map(jnp.asarray, calib_host), None)
    args, kwargs = train.model_inputs(jax.tree.map(lambda x: x[:1], calib))
    dense_macs = cost.macs(s.model.apply, variables, *args, train=False, **kwargs).total
    float_bytes = cost.model_bytes_from_tree(variables)

    def energy_gain(info: dict) -> float | None:
        """Float32 energy / the method's energy (Wu 2021 §2.3 model), where the model covers it."""
        if "energy_ratio" in info:  # Weight sharing reports its own (fewer unique weights).
            return float(info["energy_ratio"])
        if "weight_bits" not in info and "act_bits" not in info:
            return None  # E.g. pruning: the energy model does not count skipped zeros.
        wb, ab = info.get("weight_bits", 32), info.get("act_bits", 32)
        e = cost.energy(
            s.model.apply, variables, *args, train=False, weight_bits=wb, act_bits=ab, **kwargs
        ).energy
        # ``energy`` is normalised by B_w·B_x (one MAC's computation); undo it to compare widths.
        return float_energy * 32 * 32 / (e * wb * ab)

    float_energy = cost.energy(
        s.model.apply, variables, *args, train=False, weight_bits=32, act_bits=32, **kwargs
    ).energy

    rows = [
        {
            "method": "float32",
            "accuracy": evaluate(variables)["accuracy"],
            "model_kb": float_bytes / 1024,
            "compression_ratio": 1.0,
            "macs": dense_macs,
            "energy_gain": 1.0,
        }
    ]
    for name in names:
        result = compressors.get_compressor(name)(
            variables, apply_fn=s.model.apply, calib_batch=calib
        )
        evaluate_result = (
            evaluate
            if result.apply_fn is None
            else _pipeline.make_evaluator(s, apply_fn=result.apply_fn)
        )
        rows.append(
            {
                "method": name,
                "accuracy": evaluate_result(result.variables)["accuracy"],
                "model_kb": result.model_bytes / 1024,
                "compression_ratio": float_bytes / result.model_bytes,
                "macs": dense_macs if result.macs is None else result.macs,
                "energy_gain": energy_gain(result.info),
            }
        )
    table = format_table(rows)
    print(table, flush=True)
    results = {
        f"{r['method']}/{k}": v
        for r in rows
        for k, v in r.items()
        if k != "method" and v is not None
    }
    results["wall_time_s"] = time.perf_counter() - start
    writer.write_results(results)
    if jax.process_index() == 0:
        plot_accuracy_vs_size(rows, f"{workdir}/accuracy_vs_size.png")
    log.info("quickstart finished in %.1f s", results["wall_time_s"])
    return rows
