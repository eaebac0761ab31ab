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
