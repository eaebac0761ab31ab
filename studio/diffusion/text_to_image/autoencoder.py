"""The autoencoder's side of latent diffusion: pictures to latents and back (in the UNet's scale, the scaling
factor applied), and the cheap preview of a latent for models whose decoder is too slow to run every step: a linear
map from a latent position's channels to its picture's colour, fitted by least squares to the model's own
autoencoder (:func:`preview_map`), the way the AUTOMATIC1111 web UI's "approximate" live preview works, but fitted
rather than hard-coded, so it follows whatever autoencoder a model ships."""

from __future__ import annotations

import torch

FULL_DECODE_MAX = 128  # images up to this many pixels a side get every step's ẑ₀ through the full decoder


@torch.inference_mode()
def decode(bundle, latents: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """The full decoder: latents (B, C, h, w) in the UNet's scale → pictures (B, c, H, W) in [-1, 1] on the CPU."""
    vae = bundle.vae
    device, dtype = next(vae.parameters()).device, next(vae.parameters()).dtype
    out = []
    for i in range(0, len(latents), chunk):
        z = latents[i:i + chunk].to(device, dtype) / bundle.scaling_factor
        out.append(vae.decode(z).sample.float().cpu())
    return torch.cat(out).clamp(-1, 1)


@torch.inference_mode()
def encode(bundle, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The encoder: pictures (B, c, H, W) in [-1, 1] → latents in the UNet's scale (a sample of the posterior, as
    diffusers' img2img pipeline takes; its mean without a generator)."""
    vae = bundle.vae
    device, dtype = next(vae.parameters()).device, next(vae.parameters()).dtype
    post = vae.encode(images.to(device, dtype)).latent_dist
    if generator is None:
        z = post.mean
    else:
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=generator).to(device, dtype)
    return (z * bundle.scaling_factor).float().cpu()


@torch.inference_mode()
def preview_map(bundle) -> torch.Tensor:
    """A linear map from a latent position's channels (and 1) to its picture's channels, fitted to the model's own
    autoencoder: 24 smooth random pictures (seed 0) are encoded, each is averaged down to the latent's grid, and
    least squares solves latent → colour. (C + 1, c); kept in the bundle."""
    if "map" in bundle.preview:
        return bundle.preview["map"]
    f, c, size = bundle.vae_scale_factor, bundle.image_channels, 8 * bundle.vae_scale_factor
    g = torch.Generator().manual_seed(0)
    coarse = torch.rand(24, c, 4, 4, generator=g) * 2 - 1
    pictures = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    z = encode(bundle, pictures)  # (24, C, 8, 8)
    colours = torch.nn.functional.avg_pool2d(pictures, f)  # (24, c, 8, 8)
    a = torch.cat([z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]), torch.ones(z.numel() // z.shape[1], 1)], 1)
    b = colours.permute(0, 2, 3, 1).reshape(-1, c)
    bundle.preview["map"] = torch.linalg.lstsq(a.double(), b.double()).solution.float()  # (C + 1, c)
    return bundle.preview["map"]


def linear_preview(latents: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Latents (B, C, h, w) → pictures (B, c, h, w) in [-1, 1] through the fitted map (no decoder)."""
    z = latents.float().permute(0, 2, 3, 1)  # (B, h, w, C)
    out = z @ weights[:-1] + weights[-1]
    return out.permute(0, 3, 1, 2).clamp(-1, 1)


def preview_kind(bundle, height: int, width: int) -> str:
    return "decoder" if max(height, width) <= FULL_DECODE_MAX else "linear"


def picture_of(bundle, latents: torch.Tensor, kind: str) -> torch.Tensor:
    return decode(bundle, latents) if kind == "decoder" else linear_preview(latents, preview_map(bundle))
