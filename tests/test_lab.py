"""The live lab's engine (issue 26, first part): 2-D targets, VEEGAN's mode measure, and the 2-D GAN trainer."""

from __future__ import annotations

import math

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
    gan = GAN2D(TARGETS["ring of 8"], GANConfig(loss="minimax", lr_g=2e-3, lr_d=2e-3))  # the collapse preset
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


def _fixed_critic(gan: GAN2D) -> GAN2D:
    """D(x) = 3·x₁ + 4·x₂ + 0.5: a critic whose values and gradient (‖∇D‖ = 5 everywhere) are known by hand."""
    critic = torch.nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight[:] = torch.tensor([[3.0, 4.0]])
        critic.bias[:] = 0.5
    gan.D = critic
    return gan


REAL = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # D = 3.5, 4.5
FAKE = torch.tensor([[-1.0, 0.0], [0.0, 0.0]])  # D = −2.5, 0.5


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


@pytest.mark.parametrize("loss, d_expected, g_expected", [
    # Goodfellow et al. 2014: D maximises log σ(D(x)) + log(1 − σ(D(G(z)))), i.e. minimises their negative
    ("minimax", -(math.log(_sigmoid(3.5)) + math.log(_sigmoid(4.5))) / 2
     - (math.log(1 - _sigmoid(-2.5)) + math.log(1 - _sigmoid(0.5))) / 2,
     # G minimises log(1 − σ(D(G(z))))
     (math.log(1 - _sigmoid(-2.5)) + math.log(1 - _sigmoid(0.5))) / 2),
    # the non-saturating G minimises −log σ(D(G(z))); D's loss is the minimax one
    ("non-saturating", None, -(math.log(_sigmoid(-2.5)) + math.log(_sigmoid(0.5))) / 2),
    # hinge: D: mean relu(1 − D(x)) + mean relu(1 + D(G(z))) = 0 + (0 + 1.5)/2; G: −mean D(G(z)) = 1
    ("hinge", 0.75, 1.0),
    # WGAN-GP: E D(fake) − E D(real) + 10 (‖∇D‖ − 1)² = −1 − 4 + 10·16 (the penalty is the same at every x̂)
    ("wgan-gp", 155.0, 1.0),
])
def test_each_loss_has_the_papers_value_on_a_hand_made_critic(loss, d_expected, g_expected):
    gan = _fixed_critic(GAN2D(TARGETS["ring of 8"], GANConfig(loss=loss)))
    if d_expected is None:  # non-saturating shares the minimax discriminator loss
        d_expected = float(_fixed_critic(GAN2D(TARGETS["ring of 8"], GANConfig(loss="minimax"))).d_loss(REAL, FAKE))
        assert d_expected == pytest.approx(0.54688, abs=1e-4)
    assert float(gan.d_loss(REAL, FAKE)) == pytest.approx(d_expected, abs=1e-4)
    assert float(gan.g_loss(FAKE)) == pytest.approx(g_expected, abs=1e-4)


def test_a_d_step_changes_only_d_and_a_g_step_only_g():
    gan = GAN2D(TARGETS["ring of 8"], GANConfig(seed=5))

    def flat(net):
        return torch.cat([p.detach().flatten().clone() for p in net.parameters()])

    d0, g0 = flat(gan.D), flat(gan.G)
    gan.d_step()
    d1, g1 = flat(gan.D), flat(gan.G)
    assert not torch.equal(d0, d1) and torch.equal(g0, g1)
    gan.g_step()
    assert torch.equal(flat(gan.D), d1) and not torch.equal(flat(gan.G), g1)


def test_the_default_play_covers_most_of_the_ring():
    """The Lab's default Play (non-saturating, 2,000 steps, the Lab tab's defaults) covers at least 6 of the 8
    modes: the lesson's "it works" case, against which the minimax preset collapses."""
    import inspect

    from studio.lab import live, tab

    d = {k: v.default for k, v in inspect.signature(tab.lab_train).parameters.items()}
    gan_config, _ = live.config_of(d["loss"], d["lr_g"], d["lr_d"], d["d_steps"], d["batch_size"], d["lr_flow"],
                                   d["seed"])
    gan = GAN2D(TARGETS[d["target"]], gan_config)
    for _ in range(d["steps"]):
        gan.step()
    assert mode_stats(gan.samples(N_SAMPLES), gan.target)["modes_covered"] >= 6
