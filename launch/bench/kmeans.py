"""Benchmark: our jitted k-means vs scikit-learn's ``KMeans`` (Lloyd), same init and iterations.

Command:
  python launch/bench/kmeans.py --out /tmp/kmeans_bench.json [--quick]

Cases: the rows (length 3) of every 3×3 conv of the pretrained ResNet-20 at a per-layer CR of 8
(the K of Deep k-Means; random weights when the checkpoint is absent), and 10⁵ and 10⁶ random
rows of length 3 with K = 256. Both start from the same k-means++ centroids (ours, handed to
scikit-learn as ``init``), use ``n_init=1``, ``tol=0`` and the same ``max_iter``, so both run
exactly the same number of Lloyd iterations. Ours is timed after one warm-up call (compilation
excluded, reported separately). Figures per case: ``ours_vs_sklearn_time_ratio`` (< 1: ours is
faster) and ``ours_vs_sklearn_inertia_ratio`` (≈ 1: equal quality). Prints a table last and
writes a flat JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.cluster import KMeans

from efficient_jax import share
from efficient_jax.core import path_strings

WEIGHTS = (
    pathlib.Path(
        os.environ.get(
            "EFFICIENT_JAX_DATA", pathlib.Path(__file__).resolve().parents[3] / "shared/data"
        )
    )
    / "weights/resnet20-12fca82f.npz"
)


def resnet_rows(ratio: float) -> list[tuple[str, np.ndarray, int]]:
    """``(name, rows, K)`` for each 3×3 conv of ResNet-20 (pretrained if available)."""
    from efficient_jax import models

    if WEIGHTS.exists():
        _, variables = models.load_pytorch_resnet(str(WEIGHTS))
        src = "pretrained"
    else:
        model = models.get_model("resnet20", num_classes=10)
        variables = model.init(jax.random.key(0), jnp.ones((1, 32, 32, 3)))
        src = "random-init"
    params = variables["params"]
    ks = share.clusters_for_ratio(params, ratio)
    out = []
    leaves = dict(zip(path_strings(params), jax.tree.leaves(params), strict=True))
    for path, k in ks.items():
        out.append((f"{src}:{path}", np.asarray(share.rows_from_kernel(leaves[path])), k))
    return out


def bench_case(x: np.ndarray, k: int, max_iter: int, key: jax.Array) -> dict[str, float]:
    xj = jnp.asarray(x)
    c0 = share.init_centroids(xj, k, key=key)
    w = jnp.ones(x.shape[0], jnp.float32)
    t0 = time.perf_counter()
    jax.block_until_ready(share.lloyd(xj, w, c0, max_iter=max_iter, tol=0.0))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        ours = jax.block_until_ready(share.lloyd(xj, w, c0, max_iter=max_iter, tol=0.0))
        times.append(time.perf_counter() - t0)
    ref_times, ref = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        ref = KMeans(k, init=np.asarray(c0), n_init=1, max_iter=max_iter, tol=0.0).fit(x)
        ref_times.append(time.perf_counter() - t0)
    ours_s, ref_s = min(times), min(ref_times)
    return {
        "n": x.shape[0],
        "k": k,
        "iters_ours": int(ours.n_iter),
        "iters_sklearn": int(ref.n_iter_),
        "ours_s": ours_s,
        "ours_compile_s": compile_s,
        "sklearn_s": ref_s,
        "ours_vs_sklearn_time_ratio": ours_s / ref_s,
        "ours_vs_sklearn_inertia_ratio": float(ours.inertia) / float(ref.inertia_),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-iter", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="10^5 random rows only, 3 layers")
    args = ap.parse_args()
    key = jax.random.key(0)
    rng = np.random.RandomState(0)
    cases: list[tuple[str, np.ndarray, int]] = []
    layers = resnet_rows(8.0)
    cases += layers[:3] if args.quick else layers
    sizes = [100_000] if args.quick else [100_000, 1_000_000]
    cases += [(f"random_{n}", rng.randn(n, 3).astype(np.float32), 256) for n in sizes]

    results: dict[str, float | str] = {
        "device": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count() or 0,
        "platform": platform.platform(),
        "max_iter": args.max_iter,
    }
    rows = []
    layer_ours = layer_ref = 0.0
    layer_inertia = []
    for i, (name, x, k) in enumerate(cases):
        r = bench_case(x, k, args.max_iter, jax.random.fold_in(key, i))
        rows.append((name, r))
        for f, v in r.items():
            results[f"{name}/{f}"] = v
        if not name.startswith("random"):
            layer_ours += r["ours_s"]
            layer_ref += r["sklearn_s"]
            layer_inertia.append(r["ours_vs_sklearn_inertia_ratio"])
    results["resnet20_layers/ours_vs_sklearn_time_ratio"] = layer_ours / layer_ref
    results["resnet20_layers/ours_vs_sklearn_inertia_ratio_max"] = max(layer_inertia)
    results["resnet20_layers/ours_vs_sklearn_inertia_ratio_min"] = min(layer_inertia)
    pathlib.Path(args.out).write_text(json.dumps(results, indent=1, sort_keys=True))

    head = (
        f"{'case':<40} {'N':>9} {'K':>5} {'ours s':>9} {'sklearn s':>10} {'time ×':>8} "
        f"{'inertia ×':>10}"
    )
    print(head)
    print("-" * len(head))
    for name, r in rows:
        print(
            f"{name[-40:]:<40} {r['n']:>9,} {r['k']:>5} {r['ours_s']:>9.4f} "
            f"{r['sklearn_s']:>10.4f} "
            f"{r['ours_vs_sklearn_time_ratio']:>8.3f} {r['ours_vs_sklearn_inertia_ratio']:>10.5f}"
        )
    print(
        f"{'all ResNet-20 layers':<40} {'':>9} {'':>5} {layer_ours:>9.4f} {layer_ref:>10.4f} "
        f"{layer_ours / layer_ref:>8.3f} {max(layer_inertia):>10.5f}"
    )


if __name__ == "__main__":
    main()
