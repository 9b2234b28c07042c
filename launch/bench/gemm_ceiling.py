"""The speed-up ceiling for the WeakNAS MLP benchmark on this machine: GEMM throughput.

WeakNAS's predictor (4×1000 MLP) spends its time in ``(rows × 1000) · (1000 × 1000)`` products, in
float64 NumPy/OpenBLAS for scikit-learn's ``MLPRegressor`` and float32 XLA for ours. At the same
work, no implementation can beat scikit-learn by more than the ratio of the two throughputs; this
prints it for the row counts of a run (a minibatch, a full-batch fit, predicting all of NB201).

Usage:
  python launch/bench/gemm_ceiling.py --out /tmp/gemm_ceiling.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np


def gflops(matmul, a, b, reps: int) -> float:
    jax.block_until_ready(matmul(a, b))
    t = time.perf_counter()
    for _ in range(reps):
        out = matmul(a, b)
    jax.block_until_ready(out)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / ((time.perf_counter() - t) / reps) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="", help="optional JSON file for the table")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    xla_dot = jax.jit(jnp.dot)
    rows = []
    for n in (50, 200, 15625):
        reps = 10 if n > 1000 else 30
        a, b = rng.random((n, 1000)), rng.random((1000, 1000))
        f64 = gflops(np.dot, a, b, reps)
        np32 = gflops(np.dot, a.astype(np.float32), b.astype(np.float32), reps)
        xla32 = gflops(xla_dot, jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32), reps)
        rows.append((n, f64, np32, xla32))
    header = ("rows", "NumPy f64", "NumPy f32", "XLA f32", "XLA f32 / NumPy f64")
    print(f"{header[0]:>6} {header[1]:>10} {header[2]:>10} {header[3]:>8} {header[4]:>20}")
    for n, f64, np32, xla32 in rows:
        print(f"{n:>6} {f64:>10.1f} {np32:>10.1f} {xla32:>8.1f} {xla32 / f64:>20.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {
                    "machine": platform.processor() or platform.machine(),
                    "device": str(jax.devices()[0]),
                    "rows": [
                        dict(zip(("rows", "numpy_f64", "numpy_f32", "xla_f32"), r)) for r in rows
                    ],
                },
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
