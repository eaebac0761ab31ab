"""The captions of the text-to-image model (studio/diffusion/text_to_image/captions.py) and its sample sheet: the attributes
measured on hand-drawn strokes, the words a caption says, the thirds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.diffusion.text_to_image import captions as cap


def bar(width: int, height: int = 20, shear: float = 0.0) -> torch.Tensor:
    """A white stroke on black (1, 1, 28, 28), rows 4..4+height, its left edge moved ``shear`` pixels right per
    row upwards."""
    img = torch.zeros(1, 1, 28, 28)
    for y in range(4, 4 + height):
        x0 = 10 + round(shear * (4 + height - 1 - y))
        img[0, 0, y, x0:x0 + width] = 1.0
    return img


def test_thickness_is_ink_over_half_the_perimeter_and_width_the_inked_columns():
    m = cap.measure(torch.cat([bar(2), bar(4)]))
    # a 2×20 bar: ink 40, perimeter 2·(2 + 20) = 44; a 4×20 bar: 80 over 24
    assert m["thickness"].tolist() == pytest.approx([40 / 22, 80 / 24])
    assert m["width"].tolist() == [2.0, 4.0]
    assert m["slant"].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_slant_is_the_shear_of_the_ink_positive_when_the_top_leans_right():
    m = cap.measure(torch.cat([bar(3, shear=0.25), bar(3, shear=-0.25), bar(3, shear=0.5)]))
    # x = x₀ − shear·y (y down): μ₁₁ = −shear·μ₀₂, so −μ₁₁/μ₀₂ = shear (to the rounding of the pixels)
    assert m["slant"].tolist() == pytest.approx([0.25, -0.25, 0.5], abs=0.03)


@pytest.mark.parametrize("args, kwargs, text", [
    ((7, (2, 2, 1)), {}, "a thick, slanted seven"),
    ((8, (1, 1, 1)), {}, "an eight"),
    ((1, (1, 0, 1)), {}, "an upright one"),
    ((8, (1, 1, 1)), {"numeral": True}, "an 8"),
    ((3, (0, 2, 0)), {"named": (True, False, True)}, "a thin, narrow three"),
    ((0, (2, 2, 2)), {}, "a thick, slanted, wide zero"),
])
def test_a_caption_names_the_outer_thirds_in_order_with_the_right_article(args, kwargs, text):
    assert cap.caption(*args, **kwargs) == text


def test_thirds_use_each_digits_own_cut_points():
    # every digit has widths 1, 2, 3; the eights are 3 wider (4, 5, 6)
    x = torch.cat([bar(w + (3 if d == 8 else 0)) for d in range(10) for w in (1, 2, 3)])
    y = torch.tensor([d for d in range(10) for _ in range(3)])
    bins = cap.fit_bins(x, y)
    for d, widths in ((1, [1, 2, 3]), (8, [4, 5, 6])):
        assert bins.cuts["width"][d] == pytest.approx([np.quantile(widths, 1 / 3), np.quantile(widths, 2 / 3)],
                                                      abs=1e-4)
    probe = torch.cat([bar(w) for w in (1, 2, 3, 4, 5, 6)])
    t = cap.thirds(bins, probe, torch.tensor([1, 1, 1, 8, 8, 8]))[:, cap.ATTRIBUTES.index("width")].tolist()
    assert t == [0, 1, 2, 0, 1, 2]  # a 4-wide eight is a narrow eight, a 3-wide one a wide one
    assert cap.Bins.from_json(bins.to_json()).cuts == bins.cuts
