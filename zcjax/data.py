"""Benchmark data: where it lives, the NB201 table, and image batches.

This is the one place in the library that reads the environment: the data folder is, in order,
an explicit ``data_dir`` argument, the ``ZCJAX_DATA`` environment variable, ``data/`` in the
checkout, ``../shared/data`` beside the checkout, and last the small default embedded in the
package (``zcjax/embedded``: the NB201 table, 512 CIFAR-10 and 20 CIFAR-100 images, the NDS
ImageNet records; its PROVENANCE.md says where each came from). ``data_dir`` or ``ZCJAX_DATA``
equal to ``"embedded"`` selects the embedded default explicitly. Its layout::

  nb201/nb201.csv.gz        NAS-Bench-201 table (index, arch, op codes, accuracies, costs)
  images/cifar10.npz        uint8 NHWC CIFAR-10 images (x, y, x_test, y_test)
  images/cifar100.npz       uint8 NHWC CIFAR-100 images (x, y)

BUILD.md says how to make these files from the official downloads.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import importlib.resources
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from zcjax.keys import host_rng

ENV_VAR = "ZCJAX_DATA"
EMBEDDED_NAME = "embedded"
_CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = (_CHECKOUT / "data", _CHECKOUT.parent / "shared" / "data")
# NUM_CLASSES: the class count of each dataset (noise inputs draw labels from it);
# INPUT_SIZE: its input height and width.
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16": 120, "imagenet": 1000}
INPUT_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet16": 16, "imagenet": 224}


class DataNotFoundError(FileNotFoundError):
    """A data file the command needs is missing; the message says what to put where."""


def embedded_dir() -> Path:
    """The small data folder installed with the package (package data, not the checkout)."""
    return Path(str(importlib.resources.files("zcjax") / EMBEDDED_NAME))


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """Returns the data folder: the first of ``data_dir``, ``ZCJAX_DATA``, the default folders
    and the embedded default that exists (None only if the package lost its embedded data).

    An explicit ``data_dir`` or ``ZCJAX_DATA`` that does not exist is an error rather than a
    silent fall-through, so a typo never reads some other folder.
    """
    for explicit, origin in ((data_dir, "data_dir"), (os.environ.get(ENV_VAR), ENV_VAR)):
        if explicit:
            if str(explicit) == EMBEDDED_NAME:
                return embedded_dir()
            path = Path(explicit).expanduser()
            if not path.is_dir():
                raise DataNotFoundError(f"{origin}={str(explicit)!r} is not a folder.")
            return path
    return next((d for d in (*DEFAULT_DIRS, embedded_dir()) if d.is_dir()), None)


def is_embedded(root: Path | None) -> bool:
    return root is not None and root.resolve() == embedded_dir().resolve()


def describe_data_dir(data_dir: str | os.PathLike | None = None) -> str:
    """Which data a result used, in words: the folder, or the embedded default."""
    root = find_data_dir(data_dir)
    if root is None:
        return "no data folder"
    if is_embedded(root):
        return (
            "the embedded default (zcjax/embedded: NB201 table, 512 CIFAR-10 images, NDS "
            "ImageNet records); full sets: a data folder, see BUILD.md"
        )
    return f"data folder {root}"


def no_data_hint() -> str:
    """How to point zcjax at its data, for messages about a missing folder."""
    searched = ", ".join(str(d) for d in DEFAULT_DIRS)
    return (
        f"pass data_dir (--data_dir), set {ENV_VAR}, or create one of: {searched}. "
        "BUILD.md explains how to prepare it."
    )


def data_file(relpath: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``relpath`` inside the data folder; raises DataNotFoundError naming it if absent."""
    root = find_data_dir(data_dir)
    if root is None:
        raise DataNotFoundError(f"No data folder found for {relpath!r}: {no_data_hint()}")
    path = root / relpath
    if not path.is_file():
        raise DataNotFoundError(
            f"Missing data file {path}. Put {relpath!r} inside the data folder {root} "
            "(BUILD.md explains how to make it from the official downloads)."
        )
    return path


# ----------------------------------------------------------------------------- tables


@dataclasses.dataclass(frozen=True)
class Table:
    """Column-oriented table: ``table["col"]`` is a 1-D numpy array, one entry per row."""

    columns: dict[str, np.ndarray]
    source: str = ""

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise KeyError(
                f"No column {name!r} in {self.source or 'table'}; "
                f"columns are: {', '.join(self.columns)}"
            )
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def _convert(values: list[str]) -> np.ndarray:
    for dtype in (np.int64, np.float64):
        try:
            return np.array([v if v != "" else "nan" for v in values], dtype=dtype)
        except ValueError:
            continue
    return np.array(values, dtype=str)


def read_csv(path: str | os.PathLike) -> Table:
    """Reads a (optionally gzipped) CSV with a header into a Table; numeric columns are parsed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{path} is empty; expected a CSV with a header row.")
    header, body = rows[0], rows[1:]
    bad = [i for i, r in enumerate(body) if len(r) != len(header)]
    if bad:
        raise ValueError(
            f"{path}: row {bad[0] + 2} has a different number of fields than the header."
        )
    cols = list(zip(*body)) if body else [() for _ in header]
    return Table({h: _convert(list(c)) for h, c in zip(header, cols)}, source=str(path))


@functools.lru_cache(maxsize=8)
def _cached_csv(path: str) -> Table:
    return read_csv(path)


NB201_TABLE = "nb201/nb201.csv.gz"


def load_nb201_table(data_dir: str | os.PathLike | None = None) -> Table:
    """The NAS-Bench-201 table, one row per architecture in official index order.

    Columns include ``index``, ``arch``, ``op_1_0 .. op_3_2``, ``{cifar10,cifar100,imagenet16}_
    {valid,test}``, ``params_*`` (millions) and ``flops_*`` (MFLOPs); see nb201/PROVENANCE.md.
    """
    table = _cached_csv(str(data_file(NB201_TABLE, data_dir)))
    index = table["index"]
    if not np.array_equal(index, np.arange(len(index))):
        raise ValueError(f"{table.source}: the index column must be 0..N-1 in order.")
    return table


# ----------------------------------------------------------------------------- images

# Per-channel mean/std of the official pipelines (NB201's xautodl loaders). EZNAS normalises
# CIFAR with the common std (0.2023, 0.1994, 0.2010) instead: see ``NORMALIZATION_EZNAS``.
NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet16": ((0.4810, 0.4575, 0.4079), (0.2479, 0.2402, 0.2553)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # pycls / torchvision
}
NORMALIZATION_EZNAS = {  # EZNAS's dataset_utils.py: CIFAR-10's for both CIFARs
    **NORMALIZATION,
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
}
IMAGE_FILES = {"cifar10": "images/cifar10.npz", "cifar100": "images/cifar100.npz"}


@dataclasses.dataclass(frozen=True)
class Images:
    """A pool of uint8 images ``x`` [N, H, W, 3] with labels ``y`` [N] and where they came from."""

    x: np.ndarray
    y: np.ndarray
    source: str


@functools.lru_cache(maxsize=4)
def _load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return np.asarray(f["x"]), np.asarray(f["y"])


def load_images(
    dataset: str, min_count: int = 1, data_dir: str | os.PathLike | None = None
) -> Images:
    """The image pool used as input for ``dataset``.

    CIFAR-10 uses its 2048 training images. CIFAR-100 uses its own 20 images when ``min_count``
    <= 20, else the CIFAR-10 images (a substitute: only 20 CIFAR-100 images are redistributable).
    ImageNet16-120 and ImageNet (NDS) have no redistributable images: they use CIFAR-10
    images, which ``sample_batch`` resizes to the input size (16x16; 224x224 or a chosen size).
    """
    if dataset not in INPUT_SIZE:
        raise ValueError(f"Unknown dataset {dataset!r}; expected one of {sorted(INPUT_SIZE)}.")
    if dataset == "cifar100":
        x, y = _load_npz(str(data_file(IMAGE_FILES["cifar100"], data_dir)))
        if len(x) >= min_count:
            return Images(x, y, "cifar100 images")
    x, y = _load_npz(str(data_file(IMAGE_FILES["cifar10"], data_dir)))
    source = "cifar10 images" if dataset == "cifar10" else f"cifar10 images substituting {dataset}"
    return Images(x, y, source)


def _crop_flip(key: jax.Array, x: np.ndarray) -> np.ndarray:
    """Random crop with 4-pixel zero padding and random horizontal flip (CIFAR augmentation)."""
    rng = host_rng(key)
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)))
    dy, dx = rng.integers(0, 9, size=(2, n))
    flip = rng.random(n) < 0.5
    out = np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    out[flip] = out[flip, :, ::-1]
    return out


def sample_batch(
    key: jax.Array,
    dataset: str,
    batch_size: int,
    *,
    augment: bool = False,
    normalization: dict | None = None,
    data_dir: str | os.PathLike | None = None,
    size: int | None = None,
) -> tuple[jax.Array, jax.Array, str]:
    """Draws a normalised image batch, deterministic given ``key``.

    Images are drawn without replacement from ``load_images(dataset)`` and resized to ``size``
    (default: the dataset's input size): by box averaging to a divisor of 32 (ImageNet16-120's
    16x16 is 2x2 averaging), bilinearly otherwise (CIFAR images as ImageNet inputs).

    Returns:
      ``(x [B, H, W, 3] float32, y [B] int32, source)``; ``source`` says which images were used.
    """
    images = load_images(dataset, batch_size, data_dir)
    if batch_size > len(images.x):
        raise ValueError(f"batch_size {batch_size} exceeds the {len(images.x)} {images.source}.")
    key_pick, key_aug = jax.random.split(key)
    idx = host_rng(key_pick).choice(len(images.x), size=batch_size, replace=False)
    x = images.x[idx]
    if augment:
        x = _crop_flip(key_aug, x)
    x = x.astype(np.float32) / 255.0
    size = size or INPUT_SIZE[dataset]
    if x.shape[1] != size:
        x = resize(x, size)
    mean, std = (normalization or NORMALIZATION)[dataset]
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return jnp.asarray(x), jnp.asarray(images.y[idx], jnp.int32), images.source


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Square images x [B, H, H, C] to [B, size, size, C]: box average if size divides H,
    else bilinear (``jax.image.resize``)."""
    b, h, _, c = x.shape
    if h % size == 0:
        f = h // size
        return x.reshape(b, size, f, size, f, c).mean(axis=(2, 4))
    return np.asarray(jax.image.resize(x, (b, size, size, c), "bilinear"))


def noise_batch(
    key: jax.Array, dataset: str, batch_size: int, size: int | None = None
) -> jax.Array:
    """Standard-normal inputs [B, size, size, 3] (default: the dataset's input size)."""
    size = size or INPUT_SIZE[dataset]
    return jax.random.normal(key, (batch_size, size, size, 3), jnp.float32)
