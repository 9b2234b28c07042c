r"""Scalar vs row k-means weight sharing on the pretrained ResNet-20, without re-training.

Shares every layer of the pretrained ResNet-20 (akamaster/pytorch_resnet_cifar10) with 16
clusters and evaluates top-1 on a random subset of the CIFAR-10 JPEG test images:

- ``float32``: the pretrained weights;
- ``scalar16``: ``layout="scalar"`` (TFMOT ``cluster_weights``): every weight of every kernel
  (19 convs and the classifier) is one point, 16 distinct values per layer;
- ``row16``: ``layout="row"`` (Deep k-Means, Wu 2021 Ch. 2): the length-3 rows of every conv
  kernel are the points, 16 shared rows per layer (the classifier stays float32: the row layout
  needs 4-D kernels).

Command (CPU; about 2 min on 2 cores; ``--scalar_inits`` default ``linear,kmeans++``):

    python launch/eval_kmeans_layouts.py --num_images 2000 \
        --scalar_inits linear,kmeans++,density --out /tmp/kmeans_layouts.json

Measured (2,000 test images, seed 0; 2 CPU cores): float32 80.85%; scalar16 linear 78.75%,
k-means++ 75.85% (72.5–79.9% over k-means seeds 0–2), density 74.90%, all 143 KB (7.4×); row16
16.05% (60 KB, 17.5×), near chance (10%). Scalar sharing with the linear init keeps the network
within ~2 pt of float without re-training; row sharing needs the Deep k-Means re-training.

Writes a flat JSON of the figures and prints a table last.
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

from efficient_jax import data, models, share

DEFAULT_NPZ = "weights/resnet20-12fca82f.npz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data_dir", default=None, help="default: $EFFICIENT_JAX_DATA, ../shared/data")
    p.add_argument("--npz", default=None, help=f"weights (default: <data_dir>/{DEFAULT_NPZ})")
    p.add_argument("--num_images", type=int, default=2000, help="random test images (seeded)")
    p.add_argument("--clusters", type=int, default=16, help="K per layer, both layouts")
    p.add_argument(
        "--scalar_inits",
        default="linear,kmeans++",
        help=f"comma-separated k-means inits for the scalar layout, of {list(share.INITS)}",
    )
    p.add_argument("--seed", type=int, default=0, help="image subset and k-means seed")
    p.add_argument("--batch_size", type=int, default=500)
    p.add_argument("--out", default="kmeans_layouts.json", help="flat JSON of the figures")
    return p.parse_args(argv)


def top1(model, variables, images: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Top-1 accuracy of ``model`` on normalised ``images`` (a jitted step per batch)."""
    step = jax.jit(lambda v, x: jnp.argmax(model.apply(v, x, train=False), -1))
    hits = 0
    for i in range(0, len(labels), batch_size):
        pred = np.asarray(step(variables, images[i : i + batch_size]))
        hits += int(np.sum(pred == labels[i : i + batch_size]))
    return hits / len(labels)


def write_json(path: str, figures: dict) -> None:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    inits = [s for s in args.scalar_inits.split(",") if s]
    for init in inits:
        if init not in share.INITS:
            raise ValueError(f"Unknown --scalar_inits {init!r}; allowed: {list(share.INITS)}.")
    if args.num_images < 1 or args.batch_size < 1 or args.clusters < 1:
        raise ValueError("--num_images, --batch_size and --clusters must be positive.")
    start = time.perf_counter()
    data_dir = data.resolve_data_dir(args.data_dir)
    npz = data.require_file(
        args.npz or data_dir / DEFAULT_NPZ,
        "ResNet-20 weights",
        "It ships in shared/data/weights/ (see docs/DATA.md).",
    )
    model, variables = models.load_pytorch_resnet(npz)
    ds = data.load_cifar10("test", data_dir)
    if args.num_images > len(ds["label"]):
        raise ValueError(f"--num_images must be <= {len(ds['label'])}; got {args.num_images}.")
    pick = np.random.default_rng(args.seed).permutation(len(ds["label"]))[: args.num_images]
    images = np.asarray(
        data.normalize_images(ds["image"][pick], data.CIFAR10_MEAN, data.CIFAR10_STD)
    )
    labels = np.asarray(ds["label"][pick])
    key = jax.random.key(args.seed)
    k = args.clusters

    methods = {"float32": (variables, None)}
    for init in inits:
        name = f"scalar{k}_{init}"
        tree = share.share_params(
            variables["params"], [(r"kernel$", k)], key=key, layout="scalar", init=init
        )
        methods[name] = ({**variables, "params": share.expand_params(tree)}, tree)
    tree = share.share_params(variables["params"], [(r"conv.*kernel$", k)], key=key, layout="row")
    methods[f"row{k}"] = ({**variables, "params": share.expand_params(tree)}, tree)

    figures: dict = {"num_images": args.num_images, "clusters": k, "seed": args.seed}
    rows = []
    for name, (v, tree) in methods.items():
        t0 = time.perf_counter()
        acc = top1(model, v, images, labels, args.batch_size)
        stored = variables if tree is None else {**variables, "params": tree}
        kb = share.shared_bits(stored) / 8 / 1024
        cr = share.compression_ratio(variables, stored) if tree is not None else 1.0
        figures.update({f"{name}/top1": acc, f"{name}/model_kb": kb, f"{name}/model_cr": cr})
        rows.append((name, acc, kb, cr, time.perf_counter() - t0))
    figures["wall_s"] = round(time.perf_counter() - start, 2)
    write_json(args.out, figures)

    print(f"ResNet-20 (pretrained), {args.num_images} random CIFAR-10 JPEG test images, K = {k}")
    head = f"{'method':<18} {'top-1':>7} {'model KB':>9} {'ratio':>6} {'eval s':>7}"
    print(head + "\n" + "-" * len(head))
    for name, acc, kb, cr, secs in rows:
        print(f"{name:<18} {100 * acc:>6.2f}% {kb:>9.1f} {cr:>5.1f}x {secs:>7.1f}")
    print(f"wall time {figures['wall_s']:.1f} s; figures in {args.out}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
