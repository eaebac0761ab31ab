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

from studio.data import heldout_digit, load_mnist  # noqa: F401 (load_mnist: the tests' fixture data)
from studio.serving.batcher import shared
from studio.checks import number, whole_number
from studio.device import make_generator, randn, resolve_seed
from studio.latent import lerp, path_t, slerp
from studio.recipe import engine_action

SPACINGS = ("linear", "quantile")


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
    """z (N, D) on the CPU -> images (N, 1, 28, 28) in [0, 1] on the CPU, one batched call (shared with other
    users' decodes on the same model when the tab's handler batches: studio/batch.py)."""
    return shared("vae.decode", model, lambda zz: _decode(model, zz), z)


@torch.no_grad()
def _decode(model, z: torch.Tensor) -> torch.Tensor:
    dev, dt = _device(model)
    return model.decode_images(z.to(dev, dt)).float().cpu()


def stack_digits(*images: torch.Tensor) -> torch.Tensor:
    """Digits, each (k, 1, 28, 28), as one batch (sum of k, 1, 28, 28): the endpoints and corners a view uses."""
    bad = [tuple(x.shape) for x in images if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28)]
    if bad:
        raise ValueError(f"digits are (k, 1, 28, 28) images, got shapes {bad}.")
    return torch.cat(images)


@torch.no_grad()
def decode_points(model, points: list) -> torch.Tensor:
    """Latent points given as lists of numbers (a click on the 2-D map) -> images (N, 1, 28, 28) in [0, 1]."""
    z = torch.tensor(points, dtype=torch.float32)
    if z.dim() != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"points are lists of {model.latent_dim} numbers, got shape {tuple(z.shape)}.")
    return decode(model, z)


def _steps(n, lo=2, hi=16, name="steps"):
    return whole_number(name, n, lo, hi)


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
    extent = number("extent", extent, 0.5, 5)
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
    return {"input": images[:1], "mean": out[:1], "samples": out[1:], "mu": mu[0].tolist(), "sigma": sigma[0].tolist(),
            "row": torch.cat([images[:1].cpu(), out])}  # input, mean, samples: the row the tab shows


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
