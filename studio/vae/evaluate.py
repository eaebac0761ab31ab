"""The eval harness's VAE figure: −ELBO per held-out digit in nats (Bernoulli likelihood on intensities in
[0, 1]), averaged over 4 posterior samples per image drawn from a fixed seed."""

from __future__ import annotations

import torch

from studio.data import load_mnist
from studio.device import make_generator
from studio.eval.metrics import bernoulli_neg_elbo

SAMPLES_PER_IMAGE = 4
SEED = 0


@torch.no_grad()
def heldout_neg_elbo(model, x: torch.Tensor, *, samples: int = SAMPLES_PER_IMAGE, seed: int = SEED) -> float:
    g = make_generator(seed)
    p = next(model.parameters())
    total = 0.0
    for _ in range(samples):
        for chunk in x.split(500):
            eps = torch.randn(len(chunk), model.latent_dim, generator=g)  # (B, D) on the CPU
            logits, mu, logvar = model(chunk.to(p.device, p.dtype), eps.to(p.device, p.dtype))
            total += bernoulli_neg_elbo(logits.float(), chunk.to(p.device).float(), mu.float(), logvar.float()).sum().item()
    return total / (samples * len(x))


def evaluate_checkpoint(registry, key: str, *, data_dir=None, judge_key=None) -> dict:
    model = registry.get(key).model
    x, _ = load_mnist("heldout", data_dir)
    return {"heldout_neg_elbo_nats": round(heldout_neg_elbo(model, x), 2), "latent_dim": model.latent_dim,
            "settings": {"data": "MNIST images 9000..9999", "posterior_samples_per_image": SAMPLES_PER_IMAGE,
                         "seed": SEED, "likelihood": "Bernoulli on intensities in [0, 1]"}}
