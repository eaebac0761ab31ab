"""Captions for MNIST digits, made from what each digit looks like: the text the built-in text-to-image model
(``mnist-t2i``) learns to draw from, and the measurements its evaluation checks the pictures against.

Three attributes, each measured on the 28×28 image (intensities in [0, 1]):

* **thickness** — stroke width in pixels: ink mass / stroke length, the stroke length taken as half the
  perimeter of the inked pixels (> 0.5), so a long thin stroke and a short fat one are told apart;
* **slant** — the shear of the ink from its second moments, −μ₁₁ / μ₀₂ with y pointing down: 0 upright,
  > 0 the top leans right (italic), < 0 it leans left;
* **width** — the bounding box's width in pixels (ink > 0.5). MNIST scaled every digit so that the longer side
  of its box is 20 pixels, which is nearly always the height: what is left to vary in "size" is the width.

Each attribute is cut into thirds *per digit* on the training split (images 0..8999; :func:`fit_bins`): a
"thick seven" is thicker than two thirds of the training sevens (a one has less ink than an eight to begin
with). The outer thirds have words — thin / thick, upright / slanted, narrow / wide — and the middle third is
left unsaid. A training caption names each outer-third attribute with probability ``p_attribute`` and the digit
as a word or, sometimes, a numeral: "a thick, slanted seven", "a narrow 1", "an eight".
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import torch

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ATTRIBUTES = ("thickness", "slant", "width")
# the words for each attribute's lower and upper third, in the order they appear in a caption
WORDS = {"thickness": ("thin", "thick"), "slant": ("upright", "slanted"), "width": ("narrow", "wide")}


@torch.no_grad()
def measure(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each attribute of each image: images (N, 1, H, W) in [0, 1] (28×28 MNIST, or 32×32 padded). Returns
    ``{"thickness", "slant", "width"}``, each (N,) float."""
    x = images.float().clamp(0, 1)[:, 0]  # (N, H, W)
    ink = x > 0.5
    mass = x.sum((1, 2))  # (N,)
    # perimeter: inked pixels' edges that face a blank pixel (or the border), 4-neighbourhood
    padded = torch.nn.functional.pad(ink.float(), (1, 1, 1, 1))
    inner = padded[:, 1:-1, 1:-1]
    edges = sum((inner * (1 - padded[:, 1 + dy:padded.shape[1] - 1 + dy, 1 + dx:padded.shape[2] - 1 + dx]))
                for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))).sum((1, 2))
    thickness = mass / (edges / 2).clamp_min(1.0)
    h, w = x.shape[1:]
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    total = mass.clamp_min(1e-6)[:, None, None]
    cy, cx = (x * ys).sum((1, 2)) / total[:, 0, 0], (x * xs).sum((1, 2)) / total[:, 0, 0]
    dy, dx = ys - cy[:, None, None], xs - cx[:, None, None]
    mu11 = (x * dx * dy).sum((1, 2))
    mu02 = (x * dy * dy).sum((1, 2)).clamp_min(1e-6)
    slant = -mu11 / mu02
    cols = ink.any(1)  # (N, W): columns holding ink
    idx = torch.arange(w)[None].expand_as(cols)
    left = torch.where(cols, idx, w).min(1).values
    right = torch.where(cols, idx, -1).max(1).values
    width = (right - left + 1).clamp_min(0).float()
    return {"thickness": thickness, "slant": slant, "width": width}


@dataclass
class Bins:
    """Per digit and attribute, the two cut points between the thirds of the training split."""

    cuts: dict  # attribute -> [[low cut, high cut] for digit 0..9]

    def third(self, attribute: str, digit: int, value: float) -> int:
        """0 (lower third), 1 (middle) or 2 (upper third)."""
        lo, hi = self.cuts[attribute][int(digit)]
        return 0 if value < lo else (2 if value > hi else 1)

    def to_json(self) -> str:
        return json.dumps({"cuts": self.cuts, "about": "per digit, the 1/3 and 2/3 quantiles of each attribute on "
                                                          "MNIST images 0..8999 (studio/diffusion/text_to_image/captions.py)"},
                          indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Bins":
        return cls(cuts=json.loads(text)["cuts"])


def fit_bins(images: torch.Tensor, labels: torch.Tensor) -> Bins:
    """The thirds of each attribute, per digit, on ``images`` (the training split)."""
    values = measure(images)
    cuts = {}
    for name in ATTRIBUTES:
        cuts[name] = []
        for d in range(10):
            v = values[name][labels == d].double()
            cuts[name].append([round(float(torch.quantile(v, 1 / 3)), 4), round(float(torch.quantile(v, 2 / 3)), 4)])
    return Bins(cuts=cuts)


def thirds(bins: Bins, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N, 3) long: each image's third (0, 1, 2) of thickness, slant and width, for its digit."""
    values = measure(images)
    out = torch.empty(len(labels), len(ATTRIBUTES), dtype=torch.long)
    for j, name in enumerate(ATTRIBUTES):
        for i, (v, d) in enumerate(zip(values[name].tolist(), labels.tolist())):
            out[i, j] = bins.third(name, d, v)
    return out


def caption(digit: int, attribute_thirds=(1, 1, 1), *, numeral: bool = False, named=(True, True, True)) -> str:
    """The caption of a digit: "a thick, slanted seven". ``attribute_thirds``: (thickness, slant, width) thirds;
    an attribute is named when its third is an outer one and ``named`` says so; ``numeral``: "7" for "seven"."""
    words = [WORDS[name][0 if third == 0 else 1] for name, third, say in zip(ATTRIBUTES, attribute_thirds, named)
             if third != 1 and say]
    noun = str(digit) if numeral else DIGIT_WORDS[int(digit)]
    first = words[0] if words else noun
    article = "an" if first in ("upright", "eight", "8") else "a"  # the words that start with a vowel sound
    return f"{article} {', '.join(words)} {noun}" if words else f"{article} {noun}"


def random_caption(digit: int, attribute_thirds, rng: random.Random, *, p_attribute: float = 0.8,
                   p_numeral: float = 0.2) -> str:
    """A training caption: each outer-third attribute named with probability ``p_attribute``, the digit a numeral
    with probability ``p_numeral``."""
    named = tuple(rng.random() < p_attribute for _ in ATTRIBUTES)
    return caption(digit, attribute_thirds, numeral=rng.random() < p_numeral, named=named)


def vocabulary_corpus() -> list[str]:
    """Every caption the grammar makes (each digit, word and numeral, every combination of named thirds): what the
    built-in tokenizer is trained on, so each of these words is one token."""
    out = []
    for d in range(10):
        for t in range(27):
            thirds_ = (t // 9, (t // 3) % 3, t % 3)
            for numeral in (False, True):
                out.append(caption(d, thirds_, numeral=numeral))
    return out
