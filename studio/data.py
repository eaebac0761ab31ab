"""The project's training and test data, with the split conventions that make figures comparable.

* MNIST (the 10,000-image test split as distributed, IDX files): images 0..8999 train, 9000..9999 are held
  out. Pixels are returned as float32 in [0, 1], shape (N, 1, 28, 28).
* Tiny Shakespeare: the first 90% of the characters train, the last 10% are held out (nanoGPT's split).

The data folder is ``--data`` on every command, defaulting to ``$STUDIO_DATA`` or ``../shared/data`` beside
the repository.
"""

from __future__ import annotations

import gzip
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from studio.config import REPO_ROOT

MNIST_TRAIN = slice(0, 9000)
MNIST_HELDOUT = slice(9000, 10000)
MNIST_REFERENCE_TRAIN = slice(0, 1000)  # the 1,000 training digits the FD ratio's denominator uses
SHAKESPEARE_TRAIN_FRACTION = 0.9


def default_data_dir() -> Path:
    return Path(os.environ.get("STUDIO_DATA", REPO_ROOT.parent / "shared" / "data"))


def _need(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found. The studio's data are the MNIST test split (t10k-images-idx3-ubyte.gz, "
            f"t10k-labels-idx1-ubyte.gz) and tinyshakespeare.txt; pass --data FOLDER or set STUDIO_DATA.")
    return path


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 2051 = images (N, rows, cols), 2049 = labels (N,)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic == 2051:
        n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    if magic == 2049:
        n = int.from_bytes(raw[4:8], "big")
        return np.frombuffer(raw, dtype=np.uint8, offset=8)[:n]
    raise ValueError(f"{path}: not an IDX image or label file (magic {magic})")


@lru_cache(maxsize=4)
def _mnist_arrays(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    root = Path(data_dir) / "mnist"
    images = read_idx(_need(root / "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(_need(root / "t10k-labels-idx1-ubyte.gz"))
    if len(images) != 10000 or len(labels) != 10000:
        raise ValueError(f"expected the 10,000-image MNIST test split in {root}, got {len(images)} images")
    return images, labels


def load_mnist(split: str = "train", data_dir: str | Path | None = None):
    """MNIST images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) int64 as torch tensors.

    Args:
        split (`str`): ``train`` (0..8999), ``heldout`` (9000..9999), ``reference`` (0..999) or ``all``.
        data_dir (`str`, *optional*): the data folder; defaults to ``default_data_dir()``.
    """
    import torch

    images, labels = _mnist_arrays(str(data_dir or default_data_dir()))
    part = {"train": MNIST_TRAIN, "heldout": MNIST_HELDOUT, "reference": MNIST_REFERENCE_TRAIN,
            "all": slice(None)}.get(split)
    if part is None:
        raise ValueError(f"split {split!r} is not one of train, heldout, reference, all")
    x = torch.from_numpy(images[part].astype(np.float32) / 255.0)[:, None]  # (N, 1, 28, 28)
    y = torch.from_numpy(labels[part].astype(np.int64))  # (N,)
    return x, y


def load_shakespeare(split: str = "train", data_dir: str | Path | None = None) -> str:
    """Tiny Shakespeare text: ``train`` = first 90% of the characters, ``heldout`` = the last 10%, or ``all``."""
    text = _need(Path(data_dir or default_data_dir()) / "tinyshakespeare.txt").read_text(encoding="utf-8")
    cut = int(len(text) * SHAKESPEARE_TRAIN_FRACTION)
    if split == "train":
        return text[:cut]
    if split == "heldout":
        return text[cut:]
    if split == "all":
        return text
    raise ValueError(f"split {split!r} is not one of train, heldout, all")
