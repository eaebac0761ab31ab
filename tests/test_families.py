"""The families side by side (studio/families.py, studio/ui/families_tab.py), on the built-in checkpoints: one judge
for all, each family's knob trading fidelity for diversity."""

from __future__ import annotations

import pytest

from studio import families
from studio.catalog import registry_from_settings
from studio.config import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry():
    return registry_from_settings(Settings(allow_hub=False))


def test_one_row_per_family_judged_alike(registry):
    rows = families.compare(registry, digit="3", seed=5, n=8, nfe=6)
    by = {r["family"]: r for r in rows}
    assert {"VAE prior", "GAN", "pixel DDPM"} <= set(by)
    assert all(r["images"].shape == (8, 1, 28, 28) and 0 <= float(r["images"].min()) for r in rows)
    assert by["GAN"]["judge_accuracy"] >= 0.75 and by["pixel DDPM"]["judge_accuracy"] >= 0.75
    assert by["pixel DDPM"]["nfe"] == 6 and by["GAN"]["nfe"] == 1 and by["VAE prior"]["asked"].startswith("nothing")
    assert by["VAE prior"]["judge_accuracy"] is None  # not asked for a digit: no accuracy to report
    assert by["GAN"]["fd_ratio"] == registry.spec(by["GAN"]["model"]).metrics["fd_ratio"]
    assert all(0.3 < r["diversity_vs_real"] < 3 for r in rows)
    assert by["GAN"]["judge_pred"] == [int(p) for p in registry.get("digit-judge").model.judge(by["GAN"]["images"])[0]]
    again = families.compare(registry, digit="3", seed=5, n=8, nfe=6)
    assert all((a["images"] == b["images"]).all() for a, b in zip(rows, again))  # the same seed, the same rows
    with pytest.raises(ValueError, match="digit must be 0..9 or 'any'"):
        families.compare(registry, digit="seven")


def test_each_knob_trades_fidelity_for_diversity(registry):
    curves = families.knob_curves(registry, digit="7", seed=0, n=16, nfe=6)
    gan, vae, ddpm = curves["GAN"], curves["VAE prior"], curves["pixel DDPM"]
    assert gan["diversity"][-1] > 2 * gan["diversity"][0]  # ψ 0.2 → 1: far more varied
    assert vae["diversity"][-1] > vae["diversity"][0] and vae["fidelity"][0] > vae["fidelity"][-1]
    assert ddpm["fidelity"][-1] > ddpm["fidelity"][0] + 0.3  # w 0 → 4: the digit asked, far more often
    assert ddpm["diversity"][-1] < ddpm["diversity"][0]
    eta, t2i = curves["pixel DDPM (DDIM η)"], curves["text to image"]
    assert eta["values"] == [0.0, 0.5, 1.0] and t2i["values"] == [1.0, 2.0, 4.0, 8.0]
    assert all(f > 0.8 for f in eta["fidelity"])  # every η draws the digit asked (guided, w = 1 with DDIM)
    # the text-to-image model's guidance w 1 → 8: ever less varied (measured 0.273, 0.238, 0.213, 0.191)
    assert all(a > b for a, b in zip(t2i["diversity"], t2i["diversity"][1:]))
    assert t2i["diversity"][-1] < 0.85 * t2i["diversity"][0] and min(t2i["fidelity"]) > 0.8


def test_digit_any_asks_each_picture_for_its_own_digit_and_the_text_to_image_row_names_it(registry, monkeypatch):
    import torch

    from studio.data import load_mnist
    from studio.diffusion.text_to_image import engine as t2i_engine
    from studio.diffusion.text_to_image.captions import caption
    from studio.gan.engine import mean_pairwise_distance

    prompts = []
    real_run = t2i_engine.run
    monkeypatch.setattr(t2i_engine, "run", lambda bundle, **kw: prompts.append(kw.get("prompts")) or real_run(bundle, **kw))
    rows = families.compare(registry, digit="any", seed=5, n=8, nfe=6)
    by = {r["family"]: r for r in rows}
    ddpm, t2i, gan = by["pixel DDPM"], by["text to image"], by["GAN"]
    # the pixel DDPM's own run says which digit each seed drew; the text-to-image captions name the same ones
    from studio.diffusion import engine
    drawn = engine.run(registry.get(ddpm["model"]), seed=5, steps=1, digit="any", batch=8, max_batch=8).labels
    assert ddpm["asked_digits"] == drawn and t2i["asked_digits"] == drawn and len(set(drawn)) >= 3
    assert prompts[-1] == [caption(d) for d in drawn]
    # each row judged against its pictures' own digits: the trained models draw what they are asked
    assert t2i["judge_accuracy"] >= 0.6 and gan["judge_accuracy"] >= 0.6 and ddpm["judge_accuracy"] >= 0.6
    # the VAE samples every class: its diversity is compared with real digits of every class
    x, _ = load_mnist("heldout")
    pool = x[:8].flatten(1).double()
    pairs = [float((pool[i] - pool[j]).pow(2).mean().sqrt()) for i in range(8) for j in range(i + 1, 8)]
    assert abs(sum(pairs) / len(pairs) - mean_pairwise_distance(x[:8])) < 1e-4  # the measure, by hand
    vae = by["VAE prior"]
    seven = families.compare(registry, digit="7", seed=5, n=8, nfe=6)[0]
    assert seven["family"] == "VAE prior"
    assert seven["diversity_vs_real"] == pytest.approx(seven["diversity"] / (sum(pairs) / len(pairs)), abs=2e-3)
    assert vae["diversity_vs_real"] == pytest.approx(vae["diversity"] / (sum(pairs) / len(pairs)), abs=2e-3)
    del torch


@pytest.mark.parametrize("n", [2, 10, 73])
def test_the_gan_draws_exactly_as_many_pictures_as_asked(registry, n):
    from studio.gan.engine import grid

    images, nfe, asked = families.draw(registry, "GAN", "mnist-dcgan", digit="any", seed=3, n=n, nfe=1)
    assert images.shape == (n, 1, 28, 28) and len(asked) == n and nfe == 1
    first = grid(registry.get("mnist-dcgan"), seed=3, n=2, digit="any")  # the GAN tab's grid from the same seed
    assert torch_equal(images[:min(n, 4)], first["images"][:min(n, 4)]) and asked[:min(n, 4)] == first["labels"][:min(n, 4)]


def torch_equal(a, b) -> bool:
    return bool((a.float() - b.float()).abs().max() < 1e-6)
