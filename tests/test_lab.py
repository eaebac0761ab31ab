"""The live lab's engine (issue 26, first part): 2-D targets, VEEGAN's mode measure, and the 2-D GAN trainer."""

from __future__ import annotations

import pytest
import torch

from studio.lab.gan import GAN2D, GANConfig
from studio.lab.targets import MIN_PER_MODE, N_SAMPLES, TARGETS, drawn, mode_stats


def test_the_measure_counts_modes_and_high_quality_samples():
    ring = TARGETS["ring of 8"]
    real = ring.sample(N_SAMPLES, torch.Generator().manual_seed(0))
    stats = mode_stats(real, ring)
    # the target itself: in 2-D a radius of 3σ holds 1 − exp(−9/2) = 98.9% of a Gaussian
    assert stats["modes_covered"] == 8 and stats["high_quality"] == pytest.approx(0.989, abs=0.006)
    one = ring.modes[3] + 0.01 * torch.randn(N_SAMPLES, 2, generator=torch.Generator().manual_seed(1))
    assert mode_stats(one, ring)["modes_covered"] == 1 and mode_stats(one, ring)["per_mode"][3] == N_SAMPLES
    assert mode_stats(torch.zeros(N_SAMPLES, 2), ring)["high_quality"] == 0.0  # the centre is far from every mode
    few = torch.cat([one[:2400], ring.modes[5].repeat(MIN_PER_MODE - 1, 1)])
    assert mode_stats(few, ring)["modes_covered"] == 1  # 19 samples do not cover a mode, 20 would
    assert mode_stats(torch.cat([few, ring.modes[5][None]]), ring)["modes_covered"] == 2
    with pytest.raises(ValueError, match="no modes"):
        mode_stats(real, TARGETS["two moons"])


def test_every_preset_samples_inside_the_plot_and_a_drawing_is_checked():
    for target in TARGETS.values():
        x = target.sample(1000, torch.Generator().manual_seed(0))
        assert x.shape == (1000, 2) and x.abs().max() < 3
    assert len(TARGETS["5x5 grid"].modes) == 25
    assert drawn([[0, 0], [1, 1], [-1, 0.5]]).sample(10, torch.Generator()).shape == (10, 2)
    with pytest.raises(ValueError, match="at least 3 points"):
        drawn([[0, 0]])
    with pytest.raises(ValueError, match="inside the square"):
        drawn([[0, 0], [1, 1], [9, 0]])


def test_training_is_reproducible_under_its_seed_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    runs = []
    for seed in (0, 0, 1):
        gan = GAN2D(TARGETS["ring of 8"], GANConfig(seed=seed))
        runs.append([gan.step()["g_loss"] for _ in range(20)] + gan.samples(5).flatten().tolist())
    assert torch.rand(1) == before  # nothing drew from the global generator
    assert runs[0] == runs[1] and runs[0] != runs[2]


@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "hinge", "wgan-gp"])
def test_each_loss_trains_and_the_arrows_lower_the_generators_loss(loss):
    gan = GAN2D(TARGETS["ring of 8"], GANConfig(loss=loss, seed=2))
    for _ in range(50):
        gan.step()
    pts = gan.samples(256)
    arrows = gan.g_gradient(pts)
    assert arrows.shape == pts.shape and torch.isfinite(arrows).all()
    with torch.no_grad():
        assert gan.g_loss(pts + 1e-3 * arrows) < gan.g_loss(pts)
    assert gan.surface(n=16).shape == (16, 16)


def test_the_minimax_loss_collapses_onto_few_modes():
    """The saturating minimax loss, at the defaults, piles its samples onto at most 3 of the 8 modes (3,000 steps,
    a few seconds): the lab's mode-collapse preset."""
    gan = GAN2D(TARGETS["ring of 8"], GANConfig(loss="minimax"))
    for _ in range(3000):
        gan.step()
    assert mode_stats(gan.samples(N_SAMPLES), gan.target)["modes_covered"] <= 3


@pytest.mark.parametrize("field, value, words", [("loss", "lsgan", "loss must be one of"),
                                                 ("lr_g", 1.0, "lr_g must be between"),
                                                 ("d_steps", 0, "d_steps must be a whole number"),
                                                 ("batch_size", 2.5, "batch_size must be a whole number")])
def test_bad_settings_say_which_and_what_is_allowed(field, value, words):
    with pytest.raises(ValueError, match=words):
        GAN2D(TARGETS["ring of 8"], GANConfig(**{field: value}))


def test_minimax_saturates_where_the_discriminator_wins_and_non_saturating_does_not():
    """For the same D, ∂/∂D of G's loss is −σ(D) (minimax) and −σ(−D) (non-saturating): the arrows differ by the
    factor exp(D(x)) per point, so where D is sure a point is fake (D ≪ 0) the minimax arrows vanish."""
    ns = GAN2D(TARGETS["ring of 8"], GANConfig(loss="non-saturating", seed=3))
    for _ in range(30):
        ns.step()
    mm = GAN2D(TARGETS["ring of 8"], GANConfig(loss="minimax", seed=3))
    mm.D.load_state_dict(ns.D.state_dict())
    pts = torch.randn(64, 2, generator=torch.Generator().manual_seed(4)) * 2
    with torch.no_grad():
        factor = ns.D(pts).exp()  # (64, 1)
    assert mm.g_gradient(pts) == pytest.approx((ns.g_gradient(pts) * factor), rel=1e-4, abs=1e-7)


def test_flow_matching_covers_the_ring_within_its_default_budget():
    """Issue 26's floor: with the defaults (10,000 steps, ~20 s here), 8 of 8 modes and ≥ 90% high-quality samples
    of 2,500 (VEEGAN's protocol)."""
    from studio.lab.flow import Flow2D

    flow = Flow2D(TARGETS["ring of 8"])
    for _ in range(flow.config.budget):
        flow.step()
    stats = mode_stats(flow.samples(N_SAMPLES), flow.target)
    assert stats["modes_covered"] == 8 and stats["high_quality"] >= 0.90, stats
    path = flow.trajectories(4, steps=10)
    assert path.shape == (11, 4, 2) and torch.equal(path[0], torch.randn(4, 2, generator=torch.Generator().manual_seed(0)))
    pts, arrows = flow.field(0.5, n=8)
    assert pts.shape == arrows.shape == (64, 2)


def test_flow_training_is_reproducible_and_checks_its_settings():
    from studio.lab.flow import Flow2D, FlowConfig

    a, b = Flow2D(TARGETS["spiral"]), Flow2D(TARGETS["spiral"])
    assert [a.step()["loss"] for _ in range(10)] == [b.step()["loss"] for _ in range(10)]
    assert torch.equal(a.samples(8), b.samples(8))
    with pytest.raises(ValueError, match="budget must be a whole number"):
        Flow2D(TARGETS["spiral"], FlowConfig(budget=0))
