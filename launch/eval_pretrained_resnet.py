"""Top-1 of the pretrained ResNet-20 (akamaster/pytorch_resnet_cifar10) on CIFAR-10 JPEG images.

Command (CPU or GPU/TPU; the batch is split over all local devices):

    python launch/eval_pretrained_resnet.py --out /tmp/resnet20_eval.json

Expected: 81.03% top-1 on the 10,000 JPEG test images (91.78% reported on the original PNG test
set; the gap is the JPEG re-encoding). Runtime about 15 s on 2 CPU cores.

Writes a flat JSON (``top1``, ``num_images``, ``eval_s``, ``images_per_s``, ...) and prints a
small table last.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from efficient_jax import data, models, parallel

DEFAULT_NPZ = "weights/resnet20-12fca82f.npz"
REPORTED_PNG_TOP1 = 0.9178


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data_dir",
        default=None,
        help="data folder (default: $EFFICIENT_JAX_DATA, else ../shared/data)",
    )
    p.add_argument("--npz", default=None, help=f"weights (default: <data_dir>/{DEFAULT_NPZ})")
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="first N test images in load_cifar10 order (grouped by class: biased)",
    )
    p.add_argument("--batch_size", type=int, default=1000)
    p.add_argument("--out", default="results.json", help="flat JSON of the figures")
    return p.parse_args(argv)


def evaluate(model, variables, ds, batch_size: int, mesh) -> tuple[int, int]:
    """Returns (correct, total) over ``ds`` with a jitted, mask-weighted step."""

    @jax.jit
    def correct_in(v, batch):
        logits = model.apply(v, batch["image"], train=False)
        hits = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32)
        return jnp.sum(hits * batch["mask"])

    images = data.normalize_images(ds["image"], data.CIFAR10_MEAN, data.CIFAR10_STD)
    arrays = {"image": images, "label": ds["label"]}
    variables = parallel.replicate(variables, mesh)
    correct = sum(
        float(correct_in(variables, b)) for b in data.eval_batches(arrays, batch_size, mesh=mesh)
    )
    return int(round(correct)), len(ds["label"])


def write_json(path: str, figures: dict) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.batch_size < 1:
        raise ValueError(f"--batch_size must be positive; got {args.batch_size}.")
    start = time.perf_counter()
    data_dir = data.resolve_data_dir(args.data_dir)
    npz = data.require_file(
        args.npz or data_dir / DEFAULT_NPZ,
        "ResNet-20 weights",
        "It ships in shared/data/weights/ (see shared/data/README.md).",
    )
    model, variables = models.load_pytorch_resnet(npz)
    ds = data.load_cifar10("test", data_dir, limit=args.limit)
    load_s = time.perf_counter() - start

    n_dev = jax.device_count()
    mesh = parallel.make_mesh() if n_dev > 1 and args.batch_size % n_dev == 0 else None
    t0 = time.perf_counter()
    correct, total = evaluate(model, variables, ds, args.batch_size, mesh)
    eval_s = time.perf_counter() - t0

    figures = {
        "top1": correct / total,
        "correct": correct,
        "num_images": total,
        "depth": model.depth,
        "num_params": int(sum(np.size(x) for x in jax.tree.leaves(variables["params"]))),
        "reported_png_top1": REPORTED_PNG_TOP1,
        "load_s": round(load_s, 3),
        "eval_s": round(eval_s, 3),
        "images_per_s": round(total / eval_s, 1),
        "wall_s": round(time.perf_counter() - start, 3),
        "batch_size": args.batch_size,
        "num_devices": n_dev,
    }
    write_json(args.out, figures)
    rows = [
        ("model", f"ResNet-{model.depth} ({figures['num_params']:,} params)"),
        ("weights", str(npz)),
        ("devices", f"{n_dev} x {jax.devices()[0].platform}"),
        ("test images", f"{total:,} (JPEG)"),
        (
            "top-1",
            f"{100 * figures['top1']:.2f}%  (reported on PNG: {100 * REPORTED_PNG_TOP1:.2f}%)",
        ),
        ("eval time", f"{eval_s:.1f} s ({figures['images_per_s']:.0f} img/s, incl. compile)"),
        ("wall time", f"{figures['wall_s']:.1f} s"),
        ("results", str(args.out)),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
