"""The eval harness's text-to-image figures (``python -m studio.eval t2i --json``), at the tab's defaults
(studio/diffusion/text_to_image/engine.py: DEFAULTS):

* ``judge_accuracy``, ``fd_ratio`` — the captions of the 1,000 held-out digits (MNIST 9000..9999, every outer-third
  attribute named: "a thick, slanted seven"), prompt i drawn with seed i; the judge reads each picture and should
  read the caption's digit; the Fréchet distance of the judge's features to the held-out digits, over that of 1,000
  real training digits (studio.eval.sample_quality). The pixel DDPM's FD ratio is reported beside it.
* ``attribute_accuracy`` — for each digit, each attribute and 20 seeds, two prompts that differ in that attribute
  alone ("a thin seven" / "a thick seven", the other attributes unsaid), drawn from the same seed: a pair counts
  when the measured attribute (studio/diffusion/text_to_image/captions.py) of the second picture is larger than the first's.
  600 pairs; also per attribute.
* ``autoencoder_*`` — the autoencoder alone on the held-out digits: mean squared error of the reconstructions in
  [0, 1] and the judge's accuracy on them (the ceiling the diffusion model draws under).
"""

from __future__ import annotations

from pathlib import Path

import torch

from studio.data import load_mnist
from studio.diffusion.text_to_image import captions as cap
from studio.diffusion.text_to_image import engine
from studio.diffusion.text_to_image.engine import DEFAULTS
from studio.eval.metrics import label_accuracy
from studio.eval.sample_quality import judge_figures

ATTRIBUTE_SEEDS = 20
CHUNK = 100


def bins_of(bundle, data_dir=None) -> cap.Bins:
    """The caption bins the model was trained with (its ``caption_bins.json``), else fitted on the training split."""
    saved = Path(getattr(bundle, "folder", "")) / "caption_bins.json"
    if saved.is_file():
        return cap.Bins.from_json(saved.read_text())
    x, y = load_mnist("train", data_dir)
    return cap.fit_bins(x, y)


def heldout_prompts(bins: cap.Bins, data_dir=None) -> tuple[list[str], torch.Tensor]:
    x, y = load_mnist("heldout", data_dir)
    thirds = cap.thirds(bins, x, y)
    return [cap.caption(int(d), t.tolist()) for d, t in zip(y, thirds)], y


@torch.inference_mode()
def draw(bundle, prompts: list[str], seeds: list[int], *, scheduler: str, steps: int, guidance: float) -> torch.Tensor:
    """Pictures (N, c, H, W) in [-1, 1]: prompt i with seed i, CHUNK at a time."""
    out = []
    for i in range(0, len(prompts), CHUNK):
        r = engine.run(bundle, prompts=prompts[i:i + CHUNK], seeds=seeds[i:i + CHUNK], scheduler=scheduler,
                       steps=steps, guidance=guidance, max_batch=CHUNK)
        out.append(r.images)
    return torch.cat(out)


def attribute_pairs(seeds: int = ATTRIBUTE_SEEDS) -> list[tuple[str, int, str, str, int]]:
    """(attribute, digit, lower prompt, upper prompt, seed) for every digit, attribute and seed."""
    pairs = []
    for j, name in enumerate(cap.ATTRIBUTES):
        for d in range(10):
            low, high = [1, 1, 1], [1, 1, 1]
            low[j], high[j] = 0, 2
            for s in range(seeds):
                pairs.append((name, d, cap.caption(d, low), cap.caption(d, high), 10_000 + 100 * d + s))
    return pairs


def attribute_figures(bundle, *, scheduler: str, steps: int, guidance: float, seeds: int = ATTRIBUTE_SEEDS) -> dict:
    pairs = attribute_pairs(seeds)
    prompts = [p for _, _, lo, hi, _ in pairs for p in (lo, hi)]
    seed_list = [s for *_, s in pairs for _ in (0, 1)]
    pictures = draw(bundle, prompts, seed_list, scheduler=scheduler, steps=steps, guidance=guidance)
    values = cap.measure((pictures[:, :, 2:30, 2:30] + 1) / 2)
    right = {name: [] for name in cap.ATTRIBUTES}
    for i, (name, *_rest) in enumerate(pairs):
        right[name].append(bool(values[name][2 * i + 1] > values[name][2 * i]))
    everything = [ok for oks in right.values() for ok in oks]
    return {"attribute_accuracy": round(sum(everything) / len(everything), 4),
            "attribute_accuracy_by_attribute": {n: round(sum(v) / len(v), 4) for n, v in right.items()},
            "attribute_pairs": len(everything)}


@torch.inference_mode()
def autoencoder_figures(bundle, judge, data_dir=None) -> dict:
    from studio.diffusion.digits import pad_digit

    x, y = load_mnist("heldout", data_dir)
    x32 = pad_digit(x)
    back = engine.decode(bundle, engine.encode(bundle, x32))
    mse = float((((back + 1) / 2)[:, :, 2:30, 2:30] - x).pow(2).mean())
    pred, _, _ = judge.judge(back)
    return {"autoencoder_mse": round(mse, 5), "autoencoder_judge_accuracy": round(label_accuracy(pred, y), 4)}


def pixel_ddpm_fd_ratio(registry) -> float | None:
    """The built-in pixel DDPM's FD ratio from its eval.json, to show beside this model's."""
    for spec in registry.specs("diffusion"):
        if spec.builtin and "fd_ratio" in spec.metrics:
            return spec.metrics["fd_ratio"]
    return None


def evaluate_checkpoint(registry, key: str, *, data_dir=None, judge_key="digit-judge", **settings) -> dict:
    bundle = registry.get(key)
    if bundle.image_channels != 1 or bundle.default_size != 32:
        raise ValueError(f"{key!r} is not a 32×32 digit model; the digit judge cannot rate it.")
    s = {**DEFAULTS, **settings}
    judge = registry.get(judge_key).model
    bins = bins_of(bundle, data_dir)
    prompts, labels = heldout_prompts(bins, data_dir)
    pictures = draw(bundle, prompts, list(range(len(prompts))), **s)
    f = judge_figures(judge, pictures, labels, data_dir)
    out = {"judge_accuracy": f["judge_accuracy"], "fd_ratio": f["fd_ratio"],
           **attribute_figures(bundle, **s), **autoencoder_figures(bundle, judge, data_dir),
           "pixel_ddpm_fd_ratio": pixel_ddpm_fd_ratio(registry),
           "settings": {**s, "samples": f["n_samples"], "prompts": "captions of MNIST 9000..9999, every outer-third "
                        "attribute named", "seeds": "0..999 (prompt i uses seed i)", "fd": f["fd"],
                        "fd_reference": f["fd_reference"], "attribute_seeds": ATTRIBUTE_SEEDS}}
    return out

