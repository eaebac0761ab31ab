"""GAN engine and tab on a tiny generator saved with PyTorchModelHubMixin and re-loaded through the registry."""

import pytest
import torch
from studio.gan import engine
from studio.latent import slerp
from studio.registry import ModelRegistry, ModelSpec
from tests.helpers import launched


@pytest.fixture(scope="module")
def reg(tiny_gan_dir):
    return ModelRegistry([ModelSpec(key="tiny-gan", family="gan", source=str(tiny_gan_dir),
                                    loader="mixin:studio.gan.model:Generator", builtin=True)], device="cpu")


def test_registry_loads_the_mixin_generator(reg):
    g = reg.get("tiny-gan").model
    assert g.z_dim == 8 and not g.training
    assert reg.status()[0]["params"] == sum(p.numel() for p in g.parameters())


def test_grid_is_deterministic_by_seed_and_ordered(reg):
    b = reg.get("tiny-gan")
    a = engine.grid(b, seed=10, n=3, digit="any")
    again = engine.grid(b, seed=10, n=3, digit="any")
    assert a["images"].shape == (9, 1, 28, 28) and a["seeds"] == list(range(10, 19))
    assert torch.equal(a["images"], again["images"]) and a["labels"] == again["labels"]
    assert 0 <= a["images"].min() and a["images"].max() <= 1
    # cell k of a grid starting at 10 is cell 0 of a grid starting at 10 + k
    single = engine.grid(b, seed=14, n=1, digit="any")
    assert torch.allclose(single["images"][0], a["images"][4], atol=1e-6)
    other = engine.grid(b, seed=11, n=3, digit="any")
    assert not torch.equal(a["images"], other["images"])
    assert engine.grid(b, seed=10, n=2, digit="7")["labels"] == [7, 7, 7, 7]


@pytest.mark.parametrize("truncation", ["none", "resample", "rescale"])
def test_same_z_whatever_digit_is_asked(reg, monkeypatch, truncation):
    """Asking for a digit changes the class fed to the generator, never the latent a seed gives (resampling
    draws after the class, so skipping the class draw when a digit is asked would shift it)."""
    b = reg.get("tiny-gan")
    fed = []
    real = engine.render
    monkeypatch.setattr(engine, "render", lambda g, z, labels: fed.append((z.clone(), labels.tolist())) or real(g, z, labels))
    outs = [engine.grid(b, seed=5, n=2, digit=d, truncation=truncation, threshold=0.5, psi=0.6) for d in ("any", "3", "8")]
    (z_any, l_any), (z3, l3), (z8, l8) = fed
    assert torch.equal(z_any, z3) and torch.equal(z_any, z8)
    assert l3 == [3] * 4 and l8 == [8] * 4 and l_any == [engine.seed_latent(s, b.model.z_dim)[1] for s in range(5, 9)]
    assert not torch.equal(outs[1]["images"], outs[2]["images"])  # the class does change the picture


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.0])
def test_resample_truncation_keeps_every_component_within_the_threshold(tau):
    for s in range(50):
        z, _ = engine.seed_latent(s, 64, truncation="resample", threshold=tau)
        assert z.abs().max() <= tau


def test_rescale_truncation_scales_by_psi():
    z, _ = engine.seed_latent(3, 64)
    zt, _ = engine.seed_latent(3, 64, truncation="rescale", psi=0.5)
    assert torch.allclose(zt, 0.5 * z)


def test_truncation_lowers_diversity(reg):
    b = reg.get("tiny-gan")
    full = engine.grid(b, seed=0, n=6, digit="3")["diversity"]
    trunc = engine.grid(b, seed=0, n=6, digit="3", truncation="rescale", psi=0.0)["diversity"]
    assert trunc == pytest.approx(0.0, abs=1e-6) and full > 0  # psi = 0: every latent is the mean


def test_interpolation_endpoints_are_the_seed_samples(reg):
    b = reg.get("tiny-gan")
    out = engine.interpolate(b, seed=3, seed_b=9, steps=5, digit="4")
    ga = engine.grid(b, seed=3, n=1, digit="4")["images"][0]
    gb = engine.grid(b, seed=9, n=1, digit="4")["images"][0]
    for name in ("lerp", "slerp"):
        assert out[name].shape == (5, 1, 28, 28)
        assert torch.allclose(out[name][0], ga, atol=1e-5) and torch.allclose(out[name][-1], gb, atol=1e-5)


def test_slerp_keeps_the_norm_between_equal_norm_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(32, generator=g), torch.randn(32, generator=g)
    b = b / b.norm() * a.norm()
    t = torch.linspace(0, 1, 11)[:, None]
    norms = slerp(a, b, t).norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, float(a.norm())), rtol=1e-5)
    assert torch.allclose(slerp(a, b, t)[0], a, atol=1e-5) and torch.allclose(slerp(a, b, t)[-1], b, atol=1e-5)


def test_walk_frames_and_loop(reg):
    out = engine.walk(reg.get("tiny-gan"), seed=0, stops=3, frames_per_leg=4, digit="any")
    assert out["frames"].shape == (12, 1, 28, 28) and out["seeds"] == [0, 1, 2]
    first = engine.grid(reg.get("tiny-gan"), seed=0, n=1)["images"][0]
    assert torch.allclose(out["frames"][0], first, atol=1e-5)


@pytest.mark.parametrize("kw, msg", [
    ({"n": 9}, r"n \(grid side\) must be a whole number in \[1, 8\]"),
    ({"n": 0}, r"in \[1, 8\]"),
    ({"digit": "12"}, "digit must be 'any' or 0..9"),
    ({"truncation": "clip"}, "truncation must be one of none, resample, rescale"),
    ({"truncation": "resample", "threshold": float("nan")}, r"threshold must be a number in \[0.1, 4.0\]"),
    ({"psi": 1.5}, r"psi must be a number in \[0.0, 1.0\]"),
    ({"seed": -3}, "Seed must be between 0 and"),
])
def test_bad_input_messages(reg, kw, msg):
    with pytest.raises(ValueError, match=msg):
        engine.grid(reg.get("tiny-gan"), **{"seed": 0, **kw})


def test_a_grid_from_the_last_seed_wraps_round_to_seed_0(reg):
    """Every seed the page accepts works: the grid's seeds run past 2**32 - 1 back to 0, and each cell is what its
    seed gives alone (its recipe reproduces it)."""
    bundle = reg.get("tiny-gan")
    out = engine.grid(bundle, seed=2**32 - 2, n=2)
    assert out["seeds"] == [2**32 - 2, 2**32 - 1, 0, 1]
    alone = engine.grid(bundle, seed=0, n=1)
    assert torch.allclose(out["images"][2], alone["images"][0], atol=1e-6) and out["labels"][2] == alone["labels"][0]


@pytest.fixture(scope="module")
def client(reg):
    with launched(reg) as c:
        yield c


def test_gan_endpoints_with_no_arguments(client):
    gallery, stats, recipe, code = client.predict(api_name="/gan_grid")
    assert len(gallery) == 16 and gallery[0]["caption"].startswith("seed 0 · asked ")
    assert "Diversity" in stats and '"action": "grid"' in recipe
    gif = client.predict(api_name="/gan_walk")
    with open(gif, "rb") as f:
        assert f.read(6) in (b"GIF89a", b"GIF87a")
    lerp_img, slerp_img, note = client.predict(api_name="/gan_interpolate")
    assert "‖z‖ along lerp" in note


def test_gan_bad_input_through_the_api_and_recovery(client):
    with pytest.raises(Exception, match="digit must be 'any' or 0..9|not in the list of choices"):
        client.predict("tiny-gan", "eleven", api_name="/gan_grid")
    with pytest.raises(Exception, match="Seed must be between 0 and"):
        client.predict("tiny-gan", "any", -5, api_name="/gan_grid")
    gallery, *_ = client.predict(api_name="/gan_grid")
    assert len(gallery) == 16


def test_ema_update_averages_the_weights_and_copies_the_batchnorm_statistics():
    from studio.ema import ema_update

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    ema = __import__("copy").deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model.train()(torch.randn(4, 1, 5, 5) * 3 + 2)  # moves BatchNorm's running statistics
    before = [p.clone() for p in ema.parameters()]
    ema_update(ema, model, 0.9)
    for e, b, m in zip(ema.parameters(), before, model.parameters()):
        assert torch.allclose(e, 0.9 * b + 0.1 * m, atol=1e-6)
    for name, buf in model[1].named_buffers():
        assert torch.equal(dict(ema[1].named_buffers())[name], buf), name


def test_the_gan_handlers_are_functions_a_test_calls_with_keyword_arguments(reg):
    import inspect

    from studio.config import Settings
    from studio.gan import tab
    from studio.ui.wiring import wired

    ctx = tab.GanContext.of(reg, Settings(max_grid=3))
    assert ctx.default_model == "tiny-gan" and ctx.max_side == 3
    items, stats, recipe_json, code = tab.gan_grid(ctx, model="tiny-gan", seed=7, grid_side=2, digit="3")
    assert len(items) == 4 and items[0][1].startswith("seed 7 · asked 3")
    direct = engine.grid(reg.get("tiny-gan"), seed=7, n=2, digit="3")
    assert [c for _, c in items][1].startswith("seed 8") and '"n": 2' in recipe_json and len(direct["seeds"]) == 4
    params = inspect.signature(wired(tab.gan_grid, ctx, grid_side=min(4, ctx.max_side))).parameters
    assert params["model"].default == "tiny-gan" and params["grid_side"].default == 3 and "ctx" not in params
    with pytest.raises(ValueError, match="Grid side must be a whole number, got 2.5"):
        tab.gan_grid(ctx, model="tiny-gan", grid_side=2.5)
