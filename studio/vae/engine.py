"""VAE latent-space operations, written out: encode -> move through z -> decode, all in one batch.

1. Endpoints become latents: the encoder's posterior mean μ(x) (the centre of q(z|x)).
2. Paths: lerp z(t) = (1−t) z_a + t z_b, or slerp along the sphere; a 2-D grid mixes four corners bilinearly.
3. Every point is decoded in one batched call: the decoder's Bernoulli means are the images.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch

from studio.i18n import N_
from studio.data import load_mnist
from studio.device import make_generator, randn, resolve_seed
from studio.latent import lerp, path_t, slerp
from studio.recipe import engine_action

METHODS = ("lerp", "slerp")
SPACINGS = ("linear", "quantile")
MAX_UPLOAD_PIXELS = 4096 * 4096


def open_image(path, max_pixels: int = MAX_UPLOAD_PIXELS):
    """Open an uploaded file as an image, with a clear message when it is not one (or is too large).

    The size is checked from the header, before any pixel is decoded."""
    from pathlib import Path

    from PIL import Image, UnidentifiedImageError

    name = Path(str(path)).name
    try:
        img = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValueError(f"{name} is not an image file the studio can read (PNG, JPEG, GIF, BMP, TIFF, WebP, ...).") from None
    except Image.DecompressionBombError:
        raise ValueError(f"{name} is far too large; at most {max_pixels:,} pixels are accepted.") from None
    if img.width * img.height > max_pixels:
        raise ValueError(f"{name} is {img.width}×{img.height}; at most {max_pixels:,} pixels are accepted "
                         f"(width × height).")
    try:
        img.load()
    except (OSError, ValueError, SyntaxError):
        raise ValueError(f"{name} is damaged or truncated: it could not be decoded as an image.") from None
    return img


def prepare_digit(image) -> tuple[torch.Tensor, np.ndarray]:
    """Any image (PIL or array, any size, mode, background) -> (1, 1, 28, 28) in [0, 1] as MNIST was made:
    ink white on black, cropped to the strokes, scaled to fit 20×20, centred by mass in 28×28.
    Returns the tensor and the 28×28 array "as the model sees it". Raises ValueError for an empty image."""
    from PIL import Image, ImageOps

    if image is None:
        raise ValueError("No image given: upload one, draw, or pick a held-out digit.")
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255 if arr.max() <= 1 else 1), 0, 255).astype(np.uint8)
        image = Image.fromarray(arr)
    if image.width * image.height > MAX_UPLOAD_PIXELS:
        raise ValueError(f"The image is {image.width}×{image.height}; at most {MAX_UPLOAD_PIXELS:,} pixels are accepted.")
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
    x, y = load_mnist("heldout", data_dir)
    if isinstance(index, bool) or not isinstance(index, (int, float)) or index != index or float(index) != int(index):
        raise ValueError(f"index must be a whole number, got {index!r}.")
    index = int(index)
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


def _device(model):
    p = next(model.parameters())
    return p.device, p.dtype


@torch.no_grad()
def encode(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, 1, 28, 28) -> posterior mean μ (B, D) and standard deviation σ (B, D), on the CPU."""
    dev, dt = _device(model)
    mu, logvar = model.encode(x.to(dev, dt))
    return mu.float().cpu(), torch.exp(0.5 * logvar).float().cpu()


@torch.no_grad()
def decode(model, z: torch.Tensor) -> torch.Tensor:
    """z (N, D) on the CPU -> images (N, 1, 28, 28) in [0, 1] on the CPU, one batched call."""
    dev, dt = _device(model)
    return model.decode_images(z.to(dev, dt)).float().cpu()


def _steps(n, lo=2, hi=16, name="steps"):
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n != n or float(n) != int(n) or not lo <= n <= hi:
        raise ValueError(f"{name} must be a whole number in [{lo}, {hi}], got {n!r}.")
    return int(n)


def endpoint_tensor(spec: dict, data_dir=None) -> torch.Tensor:
    """A recipe's endpoint -> (1, 1, 28, 28): ``{"heldout": {"index": i, "digit": "any"}}`` or
    ``{"pixels": 28×28 nested list in [0, 1]}`` (an upload or drawing, stored as the model saw it)."""
    if not isinstance(spec, dict):
        raise ValueError(f"An endpoint is {{'heldout': ...}} or {{'pixels': ...}}, got {spec!r}.")
    if "heldout" in spec:
        h = spec["heldout"]
        return heldout_digit(h.get("index", 0), h.get("digit", "any"), data_dir)[0]
    if "pixels" in spec:
        arr = np.asarray(spec["pixels"], dtype=np.float32)
        if arr.shape != (28, 28) or not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError("Endpoint pixels must be a 28×28 grid of numbers in [0, 1].")
        return torch.from_numpy(arr)[None, None]
    raise ValueError(f"An endpoint is {{'heldout': ...}} or {{'pixels': ...}}, got keys {sorted(spec)}.")


def pixels_spec(x: torch.Tensor) -> dict:
    """(1, 1, 28, 28) -> the recipe form ``{"pixels": ...}`` (3 decimals)."""
    return {"pixels": np.round(x[0, 0].numpy().astype(np.float64), 3).tolist()}


@engine_action("vae", "interpolate")
def interpolate(bundle, *, seed=None, endpoints: list, steps: int = 10) -> dict:
    """Recipe entry point: two endpoint specs (see ``endpoint_tensor``) -> ``interpolate_images``."""
    if not isinstance(endpoints, (list, tuple)) or len(endpoints) != 2:
        raise ValueError("interpolate takes exactly two endpoints.")
    return interpolate_images(bundle, images=torch.cat([endpoint_tensor(e) for e in endpoints]), steps=steps)


@engine_action("vae", "grid")
def grid(bundle, *, seed=None, endpoints: list, n: int = 8) -> dict:
    """Recipe entry point: four corner specs -> ``corner_grid``."""
    if not isinstance(endpoints, (list, tuple)) or len(endpoints) != 4:
        raise ValueError("grid takes exactly four corners.")
    return corner_grid(bundle, images=torch.cat([endpoint_tensor(e) for e in endpoints]), n=n)


@torch.no_grad()
def interpolate_images(bundle, *, images: torch.Tensor, steps: int = 10) -> dict:
    """Two endpoint images (2, 1, 28, 28) -> rows by lerp and slerp between their encodings, with ‖z‖ on each
    path and √D, the prior's typical radius.

    Returns ``lerp`` and ``slerp`` (steps, 1, 28, 28), ``lerp_norms``, ``slerp_norms``, ``z`` (2, D), ``sqrt_d``.
    """
    steps = _steps(steps, 2, 32)
    model = bundle.model
    mu, _ = encode(model, images)  # (2, D)
    t = path_t(steps)  # (S, 1)
    out = {"z": mu, "sqrt_d": math.sqrt(mu.shape[1]), "t": t[:, 0].tolist()}
    for name, fn in (("lerp", lerp), ("slerp", slerp)):
        z = fn(mu[0], mu[1], t)  # (S, D)
        out[name] = decode(model, z)
        out[f"{name}_norms"] = z.norm(dim=1).tolist()
        out[f"{name}_z"] = z
    return out


@torch.no_grad()
def corner_grid(bundle, *, images: torch.Tensor, n: int = 8) -> dict:
    """Four corner images (4, 1, 28, 28: top-left, top-right, bottom-left, bottom-right) -> an n×n grid whose
    latents mix the corners bilinearly, decoded in one batch. ``images`` out: (n², 1, 28, 28), row by row."""
    n = _steps(n, 2, 16, "n")
    mu, _ = encode(bundle.model, images)  # (4, D)
    u = torch.linspace(0, 1, n)
    v, h = torch.meshgrid(u, u, indexing="ij")  # row (down), column (across)
    v, h = v.reshape(-1, 1), h.reshape(-1, 1)  # (n², 1)
    z = (1 - v) * ((1 - h) * mu[0] + h * mu[1]) + v * ((1 - h) * mu[2] + h * mu[3])  # (n², D)
    return {"images": decode(bundle.model, z), "z": z, "corners": mu}


@engine_action("vae", "map")
@torch.no_grad()
def latent_map(bundle, *, seed=None, n: int = 15, extent: float = 3.0, spacing: str = "quantile",
               data_dir=None) -> dict:
    """The 2-D latent map: the decoder's output over an n×n grid of z, and the held-out digits' encodings.

    Args:
        n (`int`, 4..30): grid side.
        extent (`float`): ``linear`` spacing covers [−extent, extent]; ``quantile`` spacing places the grid at
            Gaussian quantiles (equal prior mass between rows), from Φ(−extent) to Φ(extent).
        spacing (`str`): ``linear`` or ``quantile``.
    """
    model = bundle.model
    if model.latent_dim != 2:
        raise ValueError(f"The latent map needs a 2-D latent; this model's latent has {model.latent_dim} dimensions.")
    n = _steps(n, 4, 30, "n")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)}, got {spacing!r}.")
    if isinstance(extent, bool) or not isinstance(extent, (int, float)) or not 0.5 <= extent <= 5:
        raise ValueError(f"extent must be a number in [0.5, 5], got {extent!r}.")
    if spacing == "linear":
        axis = torch.linspace(-extent, extent, n)
    else:  # Gaussian quantiles: equal prior mass between neighbouring grid lines
        normal = torch.distributions.Normal(0.0, 1.0)
        lo = float(normal.cdf(torch.tensor(-extent)))
        axis = normal.icdf(torch.linspace(lo, 1 - lo, n))
    zy, zx = torch.meshgrid(axis.flip(0), axis, indexing="ij")  # top row = largest z2
    z = torch.stack([zx.reshape(-1), zy.reshape(-1)], dim=1)  # (n², 2)
    mu, y = heldout_encodings(model, data_dir)
    return {"images": decode(model, z), "axis": axis.tolist(), "heldout_z": mu, "heldout_labels": y, "n": n,
            "spacing": spacing}


_HELDOUT_Z = weakref.WeakKeyDictionary()  # model -> {data_dir: (μ, labels)}; goes when the registry drops the model


@torch.no_grad()
def heldout_encodings(model, data_dir=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The posterior means of the 1,000 held-out digits and their labels, encoded once per loaded model (the
    latent map redrew them on every call: a fifth of its time, benchmarks/tab_paths.py)."""
    per_model = _HELDOUT_Z.setdefault(model, {})
    key = str(data_dir or "")
    if key not in per_model:
        x, y = load_mnist("heldout", data_dir)
        per_model[key] = (encode(model, x)[0], y)
    mu, y = per_model[key]
    return mu.clone(), y.clone()


@engine_action("vae", "reconstruct")
@torch.no_grad()
def reconstruct(bundle, *, seed: int | None = 0, images: torch.Tensor, samples: int = 6) -> dict:
    """Input -> q(z|x) = N(μ, σ²) -> decode μ, and decode ``samples`` draws z = μ + σ ε (seeded)."""
    samples = _steps(samples, 1, 16, "samples")
    model = bundle.model
    mu, sigma = encode(model, images[:1])  # (1, D)
    eps = randn((samples, mu.shape[1]), generator=make_generator(resolve_seed(seed)))
    z = torch.cat([mu, mu + sigma * eps])  # (1 + S, D)
    out = decode(model, z)
    return {"input": images[:1], "mean": out[:1], "samples": out[1:], "mu": mu[0].tolist(), "sigma": sigma[0].tolist()}


@engine_action("vae", "sample")
@torch.no_grad()
def sample_prior(bundle, *, seed: int | None = 0, n: int = 16) -> dict:
    """n draws z ~ N(0, I) (seeded, on the CPU) decoded."""
    n = _steps(n, 1, 64, "n")
    z = randn((n, bundle.model.latent_dim), generator=make_generator(resolve_seed(seed)))
    return {"images": decode(bundle.model, z), "z": z}


@torch.no_grad()
def interpolate_photos(bundle, *, images: list, steps: int = 6, size: int = 256) -> dict:
    """Photo interpolation through a Hub ``AutoencoderKL`` (e.g. sd-vae-ft-mse): each photo is centre-cropped
    and resized to size×size, encoded to its latent mean, moved by lerp and slerp, and decoded.

    Returns ``lerp`` and ``slerp``: lists of PIL images, and ``latent_shape``.
    """
    from PIL import Image, ImageOps

    steps = _steps(steps, 2, 12)
    if size % 8 or not 64 <= size <= 512:
        raise ValueError(f"size must be a multiple of 8 in [64, 512], got {size}.")
    vae = bundle.vae
    dev, dt = _device(vae)
    xs = []
    for img in images:
        if img is None:
            raise ValueError("Upload two photos.")
        img = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), (size, size), Image.BICUBIC)
        xs.append(torch.from_numpy(np.asarray(img).astype(np.float32) / 127.5 - 1).permute(2, 0, 1))
    x = torch.stack(xs).to(dev, dt)  # (2, 3, H, W) in [-1, 1]
    lat = vae.encode(x).latent_dist.mean.float().cpu()  # (2, C, h, w)
    shape = lat.shape[1:]
    flat = lat.reshape(2, -1)
    t = path_t(steps)
    out = {"latent_shape": list(shape)}
    for name, fn in (("lerp", lerp), ("slerp", slerp)):
        z = fn(flat[0], flat[1], t).reshape(steps, *shape)
        dec = vae.decode(z.to(dev, dt)).sample.float().cpu()  # (S, 3, H, W) in [-1, 1]
        arr = ((dec.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
        out[name] = [Image.fromarray(a) for a in arr]
    return out
