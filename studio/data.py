"""The project's training and test data, with the split conventions that make figures comparable.

* MNIST (the 10,000-image test split as distributed, IDX files): images 0..8999 train, 9000..9999 are held
  out. Pixels are returned as float32 in [0, 1], shape (N, 1, 28, 28).
* Tiny Shakespeare: the first 90% of the characters train, the last 10% are held out (nanoGPT's split).
* The Tang poems (全唐诗, 57,607 poems): poem i (0-based, file order) is held out when i mod 10 = 9, the rest
  train; a poem is its paragraphs joined by newlines and followed by a blank line.

The data folder is ``--data`` on every command, defaulting to ``$STUDIO_DATA`` or the repository's own ``data/``
folder. The MNIST split ships in ``data/mnist/`` (see ``data/README.md``): the app and the image training scripts
need nothing else. Training corpora are not committed: ``python -m studio.data fetch`` downloads them from their
public sources into the data folder and checks their sha256 (``python -m studio.data check`` checks what is there).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from studio.checks import whole_number
from studio.config import REPO_ROOT, Settings
from studio.errors import StudioError
from studio.i18n import N_

if TYPE_CHECKING:
    import torch

MNIST_TRAIN = slice(0, 9000)
MNIST_HELDOUT = slice(9000, 10000)
MNIST_REFERENCE_TRAIN = slice(0, 1000)  # the 1,000 training digits the FD ratio's denominator uses
SHAKESPEARE_TRAIN_FRACTION = 0.9


REPO_DATA = REPO_ROOT / "data"  # what ships with the studio (the MNIST split) and where `fetch` puts corpora


@dataclass(frozen=True)
class DataFile:
    """One file of the data folder: where it lies inside it, its checksum, and how a user gets it."""

    path: str  # relative to the data folder
    sha256: str
    size: int  # bytes
    what: str
    url: str | None = None  # a training corpus: downloaded by `python -m studio.data fetch`; None: ships in the repo
    parts: tuple[str, ...] = ()  # a corpus assembled from several JSON files under ``url`` (see _assemble_jsonl)
    keys: tuple[str, ...] = ()  # the fields each JSON record keeps, in this order


MNIST_FILES = (
    DataFile("mnist/t10k-images-idx3-ubyte.gz", "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
             1648877, "the MNIST test split's images (IDX)"),
    DataFile("mnist/t10k-labels-idx1-ubyte.gz", "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
             4542, "the MNIST test split's labels (IDX)"),
)
CORPORA = {
    "shakespeare": DataFile(
        "tinyshakespeare.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1115394,
        "Tiny Shakespeare (char-rnn's corpus, 1,115,394 characters)",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"),
}
# The chinese-poetry project (MIT) at a fixed commit, where 全唐诗/ still held the traditional characters of its
# source: 58 files of 1,000 poems (the last 607), concatenated in file order, one JSON object a line.
TANG_COMMIT = "fa1814a8044db4fb0c7a9e0a0449974e8c3463b7"
CORPORA["tang"] = DataFile(
    "tang-poems/tang-poems.jsonl", "7cba48fef237fa10c5f54f2b81838e8b467e2b3f95b73183369ea792e10d14ad", 16_304_652,
    "the Tang poems (全唐诗, 57,607 poems, chinese-poetry project, MIT)",
    url=f"https://raw.githubusercontent.com/chinese-poetry/chinese-poetry/{TANG_COMMIT}/"
        + urllib.parse.quote("全唐诗") + "/",
    parts=tuple(f"poet.tang.{k}.json" for k in range(0, 58000, 1000)), keys=("title", "author", "paragraphs"))
TANG_HELDOUT_EVERY = 10  # poem i is held out when i % 10 == 9
FETCH_COMMAND = "python -m studio.data fetch"


class DataMissingError(StudioError, FileNotFoundError):
    """A data file the command needs is not in the data folder; the message says how to get it (so the tabs show
    it as it is, like every ``StudioError``)."""


def default_data_dir() -> Path:
    """``$STUDIO_DATA`` when set, else the repository's ``data/`` folder."""
    raw = os.environ.get("STUDIO_DATA", "").strip()
    return Path(raw).expanduser() if raw else REPO_DATA


def _need(folder: Path, entry: DataFile) -> Path:
    """The path of ``entry`` in ``folder``; a missing file fails with which file, where, and how to get it."""
    path = Path(folder) / entry.path
    if path.is_file():
        return path
    if entry.url is not None:
        how = (f"It is a training corpus, not shipped with the studio: download it (once, on a machine with internet) "
               f"with `{FETCH_COMMAND}` (add `--data {folder}` to put it there), or pass --data / set STUDIO_DATA "
               f"to a folder holding {entry.path}.")
    else:
        how = (f"It ships in the repository's data/ folder: restore it with `git checkout -- data/`, or pass --data / "
               f"set STUDIO_DATA to a folder holding {entry.path}.")
    raise DataMissingError(f"{path.name} ({entry.what}) was not found: looked for {path}. {how}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(names=None, data_dir: str | Path | None = None, *, force: bool = False, log=print) -> list[Path]:
    """Download training corpora from their public sources into the data folder and check their sha256.

    Args:
        names (`list[str]`, *optional*): keys of ``CORPORA``; all of them by default.
        data_dir (`str`, *optional*): where to put them; ``default_data_dir()`` by default.
        force (`bool`, defaults to False): download again even when a file with the right checksum is there.
    Returns the paths written (or already there). A download whose checksum differs is deleted and an error raised.
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    names = list(CORPORA) if not names else list(names)
    unknown = [n for n in names if n not in CORPORA]
    if unknown:
        raise ValueError(f"unknown corpus {', '.join(unknown)}; known: {', '.join(CORPORA)}")
    done = []
    for name in names:
        entry = CORPORA[name]
        target = folder / entry.path
        if target.is_file() and not force and sha256_of(target) == entry.sha256:
            log(f"{name}: {target} is already there (sha256 matches)")
            done.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        log(f"{name}: downloading {entry.url}{' (' + str(len(entry.parts)) + ' files)' if entry.parts else ''}"
            f" -> {target}")
        try:
            if entry.parts:
                _assemble_jsonl(entry, partial)
            else:
                with urllib.request.urlopen(entry.url, timeout=60) as response, open(partial, "wb") as out:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
        except OSError as err:
            partial.unlink(missing_ok=True)
            raise OSError(f"{name}: could not download {entry.url} ({type(err).__name__}: {err}). This needs a "
                          f"network connection; on a machine without one, copy {entry.path} into {folder}.") from err
        got = sha256_of(partial)
        if got != entry.sha256:
            partial.unlink()
            raise ValueError(f"{name}: the download from {entry.url} has sha256 {got}, expected {entry.sha256}; "
                             f"nothing was written. The source may have changed: please report it.")
        partial.replace(target)
        log(f"{name}: ok ({entry.size:,} bytes, sha256 {entry.sha256[:12]}…)")
        done.append(target)
    return done


def _assemble_jsonl(entry: DataFile, out_path: Path) -> None:
    """Download every part (a JSON list of records) and write their records, in order, one JSON object a line
    with ``entry.keys`` in that order (``ensure_ascii=False``): the file the sha256 is checked on."""
    import json

    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        for part in entry.parts:
            with urllib.request.urlopen(entry.url + part, timeout=60) as response:
                records = json.loads(response.read().decode("utf-8"))
            for record in records:
                out.write(json.dumps({k: record[k] for k in entry.keys}, ensure_ascii=False) + "\n")


def check(data_dir: str | Path | None = None) -> dict[str, str]:
    """Every known data file -> ``ok``, ``missing`` or ``checksum differs``."""
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    report = {}
    for entry in (*MNIST_FILES, *CORPORA.values()):
        path = folder / entry.path
        report[entry.path] = ("missing" if not path.is_file() else
                              "ok" if sha256_of(path) == entry.sha256 else "checksum differs")
    return report


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
    images = read_idx(_need(Path(data_dir), MNIST_FILES[0]))
    labels = read_idx(_need(Path(data_dir), MNIST_FILES[1]))
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
    entry = CORPORA["shakespeare"]
    text = _need(Path(data_dir or default_data_dir()), entry).read_text(encoding="utf-8")
    cut = int(len(text) * SHAKESPEARE_TRAIN_FRACTION)
    if split == "train":
        return text[:cut]
    if split == "heldout":
        return text[cut:]
    if split == "all":
        return text
    raise ValueError(f"split {split!r} is not one of train, heldout, all")


def _poems(data_dir) -> list[str]:
    import json

    path = _need(Path(data_dir or default_data_dir()), CORPORA["tang"])
    with open(path, encoding="utf-8") as f:
        return ["\n".join(json.loads(line)["paragraphs"]) + "\n\n" for line in f if line.strip()]


def load_tang(split: str = "train", data_dir: str | Path | None = None, *, script: str = "simplified") -> list[str]:
    """The Tang poems of ``split`` (``train``: poem i with i % 10 != 9; ``heldout``: i % 10 == 9; or ``all``), each
    its paragraphs joined by newlines and followed by a blank line (``"".join(poems)`` is the text the held-out
    figures score). ``script``: ``traditional`` (as distributed) or ``simplified`` (converted by OpenCC's t2s,
    the script a mainland classroom reads and types)."""
    if split not in ("train", "heldout", "all"):
        raise ValueError(f"split {split!r} is not one of train, heldout, all")
    if script not in ("traditional", "simplified"):
        raise ValueError(f"script {script!r} is not one of traditional, simplified")
    poems = _poems(data_dir)
    if split != "all":
        held = split == "heldout"
        poems = [p for i, p in enumerate(poems) if (i % TANG_HELDOUT_EVERY == TANG_HELDOUT_EVERY - 1) == held]
    if script == "simplified":
        import opencc

        convert = opencc.OpenCC("t2s").convert
        poems = convert("\x00".join(poems)).split("\x00")  # one call: OpenCC is fast on one long text
    return poems


def have(name: str, data_dir: str | Path | None = None) -> bool:
    """Whether corpus ``name`` is in the data folder (tests skip on this)."""
    return (Path(data_dir or default_data_dir()) / CORPORA[name].path).is_file()


def missing_reason(name: str, data_dir: str | Path | None = None) -> str:
    """Why a corpus is not available, and how to get it: the skip reason of the tests that need it."""
    entry = CORPORA[name]
    folder = Path(data_dir or default_data_dir())
    return (f"{entry.what} is a training corpus, not shipped: not found at {folder / entry.path}; "
            f"get it with `{FETCH_COMMAND}`")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m studio.data", description=(
        "The studio's data. `fetch` downloads the training corpora (needs a network connection; the MNIST split "
        "the app uses ships in the repository's data/ folder); `check` verifies every file's sha256."))
    p.add_argument("action", choices=["fetch", "check"])
    p.add_argument("names", nargs="*", help=f"corpora to fetch (default: all of {', '.join(CORPORA)})")
    p.add_argument("--data", type=Path, default=None,
                   help="the data folder (default: $STUDIO_DATA, else the repository's data/ folder)")
    p.add_argument("--force", action="store_true", help="download again even when the file is there")
    args = p.parse_args(argv)
    if args.action == "check":
        report = check(args.data)
        for path, state in report.items():
            print(f"{state:>16}  {path}")
        return 1 if any(v == "checksum differs" for v in report.values()) else 0
    try:
        fetch(args.names, args.data, force=args.force)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# ---- one digit for a tab: a held-out MNIST image, or an upload or a drawing made to look like one ----

def image_header(path, max_pixels: int | None = None):
    """An uploaded file opened as an image, its header read and no pixel decoded: a clear message when it is not
    an image, or when its width × height is over ``max_pixels`` (by default ``Settings.max_upload_pixels``)."""
    from PIL import Image, UnidentifiedImageError

    max_pixels = upload_pixels() if max_pixels is None else max_pixels
    name = Path(str(path)).name
    try:
        img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{name} is far too large; at most {max_pixels:,} pixels are accepted.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValueError(f"{name} is not an image file the studio can read (PNG, JPEG, GIF, BMP, TIFF, WebP, ...).") from None
    if img.width * img.height > max_pixels:
        img.close()
        raise ValueError(f"{name} is {img.width}×{img.height}; at most {max_pixels:,} pixels are accepted "
                         f"(width × height).")
    return img


_UPLOAD_PIXELS: list[int] = []  # set by limit_decoding (the served studio's setting), else Settings()'s


def upload_pixels() -> int:
    return _UPLOAD_PIXELS[0] if _UPLOAD_PIXELS else Settings().max_upload_pixels


def limit_decoding(max_pixels: int) -> None:
    """Make every image this process opens (Gradio's own decoding of an upload or a drawing included) refuse, from
    its header, more than ``max_pixels`` pixels: Pillow's decompression-bomb check with its limit set to the
    studio's and its warning made an error, so nothing past the limit is ever decoded."""
    import warnings

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = int(max_pixels)
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
    _UPLOAD_PIXELS[:] = [int(max_pixels)]


def open_image(path, max_pixels: int | None = None):
    """Open an uploaded file as an image, with a clear message when it is not one (or is too large:
    ``max_pixels``, width × height, by default ``Settings.max_upload_pixels``).

    The size is checked from the header, before any pixel is decoded."""
    name = Path(str(path)).name
    img = image_header(path, max_pixels)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError):
        raise ValueError(f"{name} is damaged or truncated: it could not be decoded as an image.") from None
    return img


def prepare_digit(image) -> tuple[torch.Tensor, np.ndarray]:
    """Any image (PIL or array, any size, mode, background) -> (1, 1, 28, 28) in [0, 1] as MNIST was made:
    ink white on black, cropped to the strokes, scaled to fit 20×20, centred by mass in 28×28.
    Returns the tensor and the 28×28 array "as the model sees it". Raises ValueError for an empty image."""
    import torch
    from PIL import Image, ImageOps

    if image is None:
        raise ValueError("No image given: upload one, draw, or pick a held-out digit.")
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255 if arr.max() <= 1 else 1), 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    max_pixels = upload_pixels()
    if image.width * image.height > max_pixels:
        raise ValueError(f"The image is {image.width}×{image.height}; at most {max_pixels:,} pixels are accepted.")
    if image.width < 4 or image.height < 4:
        raise ValueError(f"The image is {image.width}×{image.height} pixels; it needs to be at least 4×4.")
    ink = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3].astype(np.float32) / 255
        if alpha.min() < 0.99:  # strokes on a transparent canvas (a sketch): alpha says where the ink is
            gray = np.asarray(rgba.convert("L")).astype(np.float32) / 255
            opaque = alpha > 0.5
            dark_strokes = (gray[opaque].mean() if opaque.any() else 0.0) < 0.5
            ink = alpha * (1 - gray) if dark_strokes else alpha * gray
    if ink is None:
        gray = np.asarray(ImageOps.exif_transpose(image).convert("L")).astype(np.float32) / 255
        ink = 1 - gray if np.median(gray) > 0.5 else gray  # dark strokes on light paper: invert
    if ink.max() - ink.min() < 0.1 or ink.max() < 0.2:
        raise ValueError("The image is empty or all one shade: no strokes were found. Draw or upload a digit.")
    ink = (ink - ink.min()) / (ink.max() - ink.min())
    ys, xs = np.nonzero(ink > 0.2)
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = 20 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS)).astype(np.float32) / 255
    canvas = np.zeros((28, 28), np.float32)
    total = small.sum()
    cy = (small.sum(1) * np.arange(nh)).sum() / total if total > 0 else nh / 2
    cx = (small.sum(0) * np.arange(nw)).sum() / total if total > 0 else nw / 2
    top = int(round(14 - cy))
    left = int(round(14 - cx))
    top, left = min(max(top, 0), 28 - nh), min(max(left, 0), 28 - nw)
    canvas[top:top + nh, left:left + nw] = small
    return torch.from_numpy(canvas)[None, None], canvas


def heldout_digit(index: int = 0, digit: str | int | None = None, data_dir=None) -> tuple[torch.Tensor, int, int]:
    """A held-out MNIST image (9000..9999): the ``index``-th of all, or of one ``digit``.
    Returns (image (1, 1, 28, 28), its label, its MNIST index)."""
    import torch

    x, y = load_mnist("heldout", data_dir)
    index = whole_number("index", index)
    pool = torch.arange(len(y))
    if isinstance(digit, str) and digit.strip() in ("", "any"):
        digit = None
    if digit is not None:
        text = str(digit).strip() if isinstance(digit, (str, int)) and not isinstance(digit, bool) else ""
        if not (text.isdigit() and len(text) == 1):
            raise ValueError(f"digit must be 0..9 or 'any', got {digit!r}.")
        d = int(text)
        pool = torch.nonzero(y == d).flatten()
    if not 0 <= index < len(pool):
        what = N_(f"held-out images of digit {digit}") if digit not in (None, "", "any") else N_("held-out images")
        raise ValueError(f"index must be in [0, {len(pool) - 1}] ({len(pool)} {what}), got {index}.")
    i = int(pool[index])
    return x[i:i + 1], int(y[i]), 9000 + i
