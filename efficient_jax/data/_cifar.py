"""CIFAR-10 from JPEG folders or ``.tar.gz`` archives, decoded once and cached as ``.npz``.

Layout under the data folder (either form per split; the folder wins when both exist)::

    cifar10/<split>/<class>/<name>.jpg
    cifar10/cifar10_<split>_jpeg.tar.gz   # <class>/<name>.jpg inside, maybe under a top folder

Images are sorted by member path, so the order (and ``limit``) is the same on every machine. The
decoded arrays are cached in ``cache_dir`` under a name keyed by the source path, size and
modification time, written atomically; the cache holds plain arrays and is read with
``allow_pickle=False``.

Example:
    >>> ds = load_cifar10("test", limit=8)  # doctest: +SKIP
    >>> ds["image"].shape, ds["image"].dtype, ds["label"].dtype  # doctest: +SKIP
    ((8, 32, 32, 3), dtype('uint8'), dtype('int32'))
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pathlib
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator

import numpy as np

from efficient_jax.data._info import Dataset, DatasetInfo, LazySplits
from efficient_jax.data._paths import (
    ENV_DATA,
    HOW_TO_GET_DATA,
    DataNotFoundError,
    default_cache_dir,
    resolve_data_dir,
)

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# What the pretrained ResNet-20 weights (akamaster/pytorch_resnet_cifar10) expect.
CIFAR10_MEAN = (0.485, 0.456, 0.406)
CIFAR10_STD = (0.229, 0.224, 0.225)

_SPLITS = ("train", "test")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SHAPE = (32, 32, 3)
# Bump when the decoding or the cache layout changes, so stale caches are never read.
_CACHE_VERSION = 1

_log = logging.getLogger(__name__)


def load_cifar10(
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> dict[str, np.ndarray]:
    """Loads a CIFAR-10 split as uint8 images and int32 labels.

    Args:
      split: ``"train"`` (50,000 images) or ``"test"`` (10,000).
      data_dir: the data folder (see :func:`resolve_data_dir`); ``cifar10/`` lies inside it.
      cache_dir: where decoded arrays are cached; default ``$EFFICIENT_JAX_CACHE`` or
        ``~/.cache/efficient_jax``.
      limit: return at most the first ``limit`` images of the sorted order (which is grouped by
        class: shuffle with :func:`batch_at` for a mixed subset). Without a cache, only those are
        decoded and nothing is cached.

    Returns:
      ``{"image": uint8 (N, 32, 32, 3), "label": int32 (N,)}``; labels index ``CIFAR10_CLASSES``.

    Raises:
      ValueError: for an unknown split, a non-positive ``limit``, an unknown class folder or an
        image that is not 32×32.
      DataNotFoundError: if neither the folder nor the archive exists.

    Example:
        >>> ds = load_cifar10("test", limit=4)  # doctest: +SKIP
        >>> ds["label"].tolist()  # doctest: +SKIP
        [0, 0, 0, 0]
    """
    if split not in _SPLITS:
        raise ValueError(f"Unknown CIFAR-10 split {split!r}; valid: {list(_SPLITS)}.")
    if limit is not None and (not isinstance(limit, int | np.integer) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None; got {limit!r}.")
    root = resolve_data_dir(data_dir) / "cifar10"
    folder = root / split
    archive = root / f"cifar10_{split}_jpeg.tar.gz"
    if folder.is_dir():
        source, fingerprint = folder, _folder_fingerprint(folder)
    elif archive.is_file():
        st = archive.stat()
        source, fingerprint = archive, [str(archive.resolve()), st.st_size, st.st_mtime_ns]
    else:
        raise DataNotFoundError(
            f"CIFAR-10 {split} split not found: neither the folder {folder} nor the archive "
            f"{archive} exists. Provide JPEGs in class-named folders (airplane/, automobile/, ...) "
            f"either way. Data folder: data_dir argument, else ${ENV_DATA}, else ../shared/data. "
            + HOW_TO_GET_DATA
        )

    cache_root = pathlib.Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    digest = hashlib.sha256(json.dumps([_CACHE_VERSION, split, fingerprint]).encode()).hexdigest()
    cache_path = cache_root / f"cifar10_{split}_{digest[:20]}.npz"
    cached = _read_cache(cache_path)
    if cached is not None:
        return cached if limit is None else {k: v[:limit] for k, v in cached.items()}

    members = sorted(_iter_folder(folder) if source == folder else _iter_archive(archive))
    if not members:
        raise ValueError(f"No images ({', '.join(_IMAGE_SUFFIXES)}) found in {source}.")
    labels = np.array([_label_of(name, source) for name, _ in members], np.int32)
    if limit is not None and limit < len(members):
        images = _decode_images([blob for _, blob in members[:limit]], source)
        return {"image": images, "label": labels[:limit]}
    images = _decode_images([blob for _, blob in members], source)
    out = {"image": images, "label": labels}
    _write_cache(cache_path, out)
    return out


def cifar10_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> Dataset:
    """The ``"cifar10"`` dataset: :func:`load_cifar10`'s ``train``/``test``, read on first use.

    Info: uint8 images ``(32, 32, 3)``, 10 classes, mean/std :data:`CIFAR10_MEAN` /
    :data:`CIFAR10_STD`, reported on ``"test"``. The data folder is resolved here; a missing
    split raises :class:`DataNotFoundError` when it is first indexed.

    Example:
        >>> ds = cifar10_dataset(limit=8)  # doctest: +SKIP
        >>> ds.info.mean == CIFAR10_MEAN, ds["test"]["image"].shape  # doctest: +SKIP
        (True, (8, 32, 32, 3))
    """
    if limit is not None and (not isinstance(limit, int | np.integer) or limit <= 0):
        raise ValueError(f"limit must be a positive integer or None; got {limit!r}.")
    root = resolve_data_dir(data_dir)
    splits = LazySplits(
        {s: (lambda s=s: load_cifar10(s, root, cache_dir=cache_dir, limit=limit)) for s in _SPLITS}
    )
    info = DatasetInfo("cifar10", "image", _SHAPE, 10, CIFAR10_MEAN, CIFAR10_STD, eval_split="test")
    return Dataset(splits, info)


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    # Skip hidden files such as macOS "._0001.jpg" resource forks.
    return not base.startswith(".") and base.lower().endswith(_IMAGE_SUFFIXES)


def _iter_folder(folder: pathlib.Path) -> Iterator[tuple[str, bytes]]:
    for dirpath, _, filenames in os.walk(folder):
        for fn in filenames:
            rel = pathlib.Path(dirpath, fn).relative_to(folder).as_posix()
            if _is_image(rel):
                yield rel, pathlib.Path(dirpath, fn).read_bytes()


def _iter_archive(archive: pathlib.Path) -> Iterator[tuple[str, bytes]]:
    # Streaming mode ("r|*") reads the compressed archive once, front to back.
    with tarfile.open(archive, "r|*") as tf:
        for member in tf:
            if member.isfile() and _is_image(member.name):
                f = tf.extractfile(member)
                if f is not None:
                    yield member.name, f.read()


def _folder_fingerprint(folder: pathlib.Path) -> list:
    entries = []
    for dirpath, _, filenames in os.walk(folder):
        for fn in filenames:
            p = pathlib.Path(dirpath, fn)
            rel = p.relative_to(folder).as_posix()
            if _is_image(rel):
                st = p.stat()
                entries.append((rel, st.st_size, st.st_mtime_ns))
    return [str(folder.resolve()), sorted(entries)]


def _label_of(name: str, source: pathlib.Path) -> int:
    parts = name.split("/")
    cls = parts[-2] if len(parts) >= 2 else ""
    if cls not in CIFAR10_CLASSES:
        raise ValueError(
            f"{name!r} in {source} is not inside a class folder; expected one of "
            f"{list(CIFAR10_CLASSES)} as its parent folder."
        )
    return CIFAR10_CLASSES.index(cls)


def _decode_images(blobs: list[bytes], source: pathlib.Path) -> np.ndarray:
    """Decodes encoded images into one uint8 (N, 32, 32, 3) array (Pillow, one pass)."""
    from PIL import Image

    out = np.empty((len(blobs), *_SHAPE), np.uint8)
    for i, blob in enumerate(blobs):
        with Image.open(io.BytesIO(blob)) as im:
            if im.size != _SHAPE[:2]:
                raise ValueError(f"Image {i} of {source} is {im.size[0]}×{im.size[1]}; need 32×32.")
            out[i] = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    return out


def _read_cache(path: pathlib.Path) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {"image": z["image"], "label": z["label"]}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        _log.warning("Ignoring unreadable CIFAR-10 cache %s (%s); decoding again.", path, e)
        return None
    img, lab = out["image"], out["label"]
    if img.dtype != np.uint8 or img.shape[1:] != _SHAPE or lab.shape != img.shape[:1]:
        _log.warning("Ignoring malformed CIFAR-10 cache %s; decoding again.", path)
        return None
    return out


def _write_cache(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes ``arrays`` to ``path`` atomically; a failure only logs (the data is returned)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a shared cache should be readable.
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        _log.warning("Could not write CIFAR-10 cache %s (%s); continuing without it.", path, e)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
