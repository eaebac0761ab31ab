"""VAE engine and tab on tiny models saved in the real formats (PyTorchModelHubMixin, diffusers AutoencoderKL)."""

import numpy as np
import pytest
import torch
from PIL import Image

from studio import data
from studio.registry import ModelRegistry, ModelSpec
from studio.vae import engine
from tests.helpers import launched, save_tiny_autoencoderkl, save_tiny_vae



@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    root = tmp_path_factory.mktemp("vae")
    return ModelRegistry([
        ModelSpec(key="vae-2d", family="vae", source=str(save_tiny_vae(root / "vae-2d", latent_dim=2)),
                  loader="mixin:studio.vae.model:ConvVAE", builtin=True),
        ModelSpec(key="vae-8d", family="vae", source=str(save_tiny_vae(root / "vae-8d", latent_dim=8)),
                  loader="mixin:studio.vae.model:ConvVAE", builtin=True),
        ModelSpec(key="tiny-kl", family="vae", source=str(save_tiny_autoencoderkl(root / "tiny-kl")),
                  loader="diffusers-autoencoderkl"),
    ], device="cpu")


def digits(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g)


def test_interpolation_endpoints_equal_the_encodings(reg):
    b = reg.get("vae-8d")
    x = digits(2)
    out = engine.interpolate_images(b, images=x, steps=7)
    mu, _ = engine.encode(b.model, x)
    for name in ("lerp", "slerp"):
        z = out[f"{name}_z"]
        assert torch.allclose(z[0], mu[0], atol=1e-5) and torch.allclose(z[-1], mu[1], atol=1e-5)
        assert torch.allclose(out[name][0], engine.decode(b.model, mu[:1])[0], atol=1e-5)
        assert out[name].shape == (7, 1, 28, 28)
    assert out["sqrt_d"] == pytest.approx(8 ** 0.5)
    assert out["lerp_norms"][0] == pytest.approx(float(mu[0].norm()), rel=1e-5)


def test_grid_shape_and_corner_order(reg):
    b = reg.get("vae-8d")
    x = digits(4)
    out = engine.corner_grid(b, images=x, n=5)
    assert out["images"].shape == (25, 1, 28, 28)
    mu, _ = engine.encode(b.model, x)
    for cell, corner in ((0, 0), (4, 1), (20, 2), (24, 3)):  # top-left, top-right, bottom-left, bottom-right
        assert torch.allclose(out["z"][cell], mu[corner], atol=1e-5)
    assert torch.allclose(out["z"][2], (mu[0] + mu[1]) / 2, atol=1e-5)  # middle of the top row


def test_determinism_under_a_seed(reg):
    b = reg.get("vae-8d")
    a1 = engine.sample_prior(b, seed=5, n=6)["images"]
    a2 = engine.sample_prior(b, seed=5, n=6)["images"]
    a3 = engine.sample_prior(b, seed=6, n=6)["images"]
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)
    r1 = engine.reconstruct(b, seed=1, images=digits(1))
    r2 = engine.reconstruct(b, seed=1, images=digits(1))
    assert torch.equal(r1["samples"], r2["samples"]) and len(r1["sigma"]) == 8


def test_latent_map_needs_2d_and_places_the_grid(reg):
    out = engine.latent_map(reg.get("vae-2d"), n=6, extent=2.0, spacing="linear")
    assert out["images"].shape == (36, 1, 28, 28) and out["axis"][0] == pytest.approx(-2.0)
    q = engine.latent_map(reg.get("vae-2d"), n=6, extent=2.0, spacing="quantile")
    assert q["axis"][0] == pytest.approx(-2.0, abs=1e-4) and q["axis"][-1] == pytest.approx(2.0, abs=1e-4)
    assert abs(q["axis"][2]) < abs(out["axis"][2])  # quantile spacing crowds the centre, where the prior mass is
    assert q["heldout_z"].shape == (1000, 2)
    with pytest.raises(ValueError, match="needs a 2-D latent"):
        engine.latent_map(reg.get("vae-8d"))


def test_latent_map_encodes_the_heldout_digits_once_per_model(reg, monkeypatch):
    from studio.data import load_mnist

    model = reg.get("vae-2d").model
    x, y = load_mnist("heldout")
    expected, _ = engine.encode(model, x)
    first = engine.latent_map(reg.get("vae-2d"), n=4)
    calls = []
    monkeypatch.setattr(engine, "load_mnist", lambda *a, **k: calls.append(a) or load_mnist(*a, **k))
    again = engine.latent_map(reg.get("vae-2d"), n=4)
    assert calls == []  # served from the cache
    assert torch.allclose(first["heldout_z"], expected, atol=1e-6) and torch.equal(again["heldout_z"], first["heldout_z"])
    assert torch.equal(again["heldout_labels"], y)
    again["heldout_z"][0] = 99.0  # a caller changing its copy does not change the cache
    assert torch.equal(engine.latent_map(reg.get("vae-2d"), n=4)["heldout_z"], first["heldout_z"])


def test_map_click_round_trip():
    from studio.plots import click_to_z, latent_map_image

    axis = np.linspace(-3, 3, 7).tolist()
    img, geom = latent_map_image(torch.zeros(49, 1, 28, 28), axis, None, [], scatter=False)
    x0, y0, x1, y1 = geom["box"]
    z = click_to_z(geom, x0 + (x1 - x0) * (5.5 / 7), y0 + (y1 - y0) * (1.5 / 7))  # centre of cell (row 1, col 5)
    assert z == pytest.approx([axis[5], axis[5]], abs=1e-6)  # row 1 from the top = second-largest z2
    assert click_to_z(geom, 1, 1) is None


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1", "CMYK"])
def test_prepare_digit_accepts_every_mode(mode):
    img = Image.new("L", (300, 200), 255)
    img.paste(0, (120, 40, 160, 170))  # a dark "1" on white paper
    img = img.convert(mode) if mode != "I;16" else img.convert("I").convert("I;16")
    x, seen = data.prepare_digit(img)
    assert x.shape == (1, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert seen.max() == pytest.approx(1.0) and seen[0, 0] == 0  # ink is white, background black
    assert 8 <= np.nonzero(seen.sum(0))[0].mean() <= 20  # centred


def test_prepare_digit_sketch_with_transparency():
    img = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    img.paste((0, 0, 0, 255), (100, 50, 180, 230))
    x, _ = data.prepare_digit(img)
    assert x.max() == pytest.approx(1.0)


@pytest.mark.parametrize("img, msg", [
    (Image.new("L", (64, 64), 0), "empty or all one shade"),
    (Image.new("RGB", (64, 64), (255, 255, 255)), "empty or all one shade"),
    (Image.new("L", (2, 2), 0), "at least 4×4"),
    (None, "No image given"),
])
def test_prepare_digit_refuses_empty_images(img, msg):
    with pytest.raises(ValueError, match=msg):
        data.prepare_digit(img)


def test_recipe_endpoints_round_trip(reg):
    x = digits(1)
    spec = engine.pixels_spec(x)
    back = engine.endpoint_tensor(spec)
    assert torch.allclose(back, x, atol=5e-4)
    with pytest.raises(ValueError, match="28×28 grid"):
        engine.endpoint_tensor({"pixels": [[2.0] * 28] * 28})


def test_photo_interpolation_through_a_tiny_autoencoderkl(reg):
    g = np.random.default_rng(0)
    a = Image.fromarray(g.integers(0, 255, (90, 120, 3), dtype=np.uint8))
    b = Image.fromarray(g.integers(0, 255, (64, 64, 3), dtype=np.uint8)).convert("L")
    out = engine.interpolate_photos(reg.get("tiny-kl"), images=[a, b], steps=4, size=64)
    assert len(out["lerp"]) == 4 and out["lerp"][0].size == (64, 64) and out["latent_shape"][0] == 4


@pytest.fixture(scope="module")
def client(reg):
    with launched(reg) as c:
        yield c


def test_vae_endpoints_with_no_arguments(client):
    lerp_img, slerp_img, norms, seen, recipe, code = client.predict(api_name="/vae_interpolate")
    assert '"action": "interpolate"' in recipe and '"heldout"' in recipe and "interpolate(" in code
    map_img = client.predict(api_name="/vae_map")
    assert map_img
    assert client.predict(api_name="/vae_grid")


def test_vae_bad_input_messages(client):
    with pytest.raises(Exception, match="Endpoint A: no image uploaded"):
        client.predict("vae-8d", 10, "upload", api_name="/vae_interpolate")
    with pytest.raises(Exception, match=r"Endpoint A: index must be in \[0, 999\]"):
        client.predict("vae-8d", 10, "held-out digit", "any", 5000, api_name="/vae_interpolate")
    with pytest.raises(Exception, match="needs a 2-D latent"):
        client.predict("vae-8d", api_name="/vae_map")
    assert client.predict(api_name="/vae_interpolate")  # keeps working


def test_vae_non_image_file_is_refused_clearly(client, tmp_path):
    from gradio_client import handle_file

    good = tmp_path / "digit.png"
    img = Image.new("L", (64, 64), 255)
    img.paste(0, (28, 8, 36, 56))
    img.save(good)
    out = client.predict("vae-8d", 10, "upload", "any", 0, handle_file(str(good)), api_name="/vae_interpolate")
    assert out[3]  # A and B as the model sees them
    f = tmp_path / "notes.png"
    f.write_text("this is not an image")
    with pytest.raises(Exception, match=r"Endpoint A: notes.png is not an image file the studio can read"):
        client.predict("vae-8d", 10, "upload", "any", 0, handle_file(str(f)), api_name="/vae_interpolate")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(Exception, match="Endpoint A: cut.png is (damaged or truncated|not an image file)"):
        client.predict("vae-8d", 10, "upload", "any", 0, handle_file(str(truncated)), api_name="/vae_interpolate")
    assert client.predict(api_name="/vae_interpolate")


def test_photo_interpolation_through_the_tab(client, tmp_path):
    from gradio_client import handle_file

    g = np.random.default_rng(1)
    paths = []
    for name, shape in (("a.jpg", (90, 120, 3)), ("b.png", (70, 50, 3))):
        path = tmp_path / name
        Image.fromarray(g.integers(0, 255, shape, dtype=np.uint8)).save(path)
        paths.append(handle_file(str(path)))
    lerp_gallery, slerp_gallery = client.predict("tiny-kl", *paths, api_name="/vae_photos")
    assert len(lerp_gallery) == 6 and len(slerp_gallery) == 6
    with pytest.raises(Exception, match="is not a photo autoencoder"):
        client.predict("vae-8d", *paths, api_name="/vae_photos")


def test_the_tabs_batches_and_points_are_engine_calls(reg):
    """What the VAE tab used to do with torch itself: stacking endpoints and corners, decoding a clicked point,
    the reconstruction row."""
    a, b = digits(1, 0), digits(2, 1)
    both = engine.stack_digits(a, b)
    assert both.shape == (3, 1, 28, 28) and torch.equal(both[0], a[0]) and torch.equal(both[1:], b)
    with pytest.raises(ValueError, match=r"digits are \(k, 1, 28, 28\) images, got shapes \[\(1, 28, 28\)\]"):
        engine.stack_digits(a, a[0])
    model = reg.get("vae-2d").model
    img = engine.decode_points(model, [[0.5, -1.0]])
    assert torch.equal(img, engine.decode(model, torch.tensor([[0.5, -1.0]])))
    with pytest.raises(ValueError, match=r"points are lists of 2 numbers, got shape \(1, 3\)"):
        engine.decode_points(model, [[0.5, -1.0, 2.0]])
    out = engine.reconstruct(reg.get("vae-2d"), seed=3, images=a, samples=4)
    assert torch.equal(out["row"], torch.cat([out["input"], out["mean"], out["samples"]])) and len(out["row"]) == 6


def test_the_vae_handlers_are_functions_a_test_calls_with_keyword_arguments(reg):
    import inspect

    from studio.config import Settings
    from studio.ui.wiring import wired
    from studio.vae import tab

    ctx = tab.VaeContext.of(reg, Settings(max_grid=5))
    assert (ctx.default_model, ctx.default_2d, ctx.default_photo, ctx.max_side) == ("vae-8d", "vae-2d", "tiny-kl", 5)
    lerp, slerp, plot, seen, recipe_json, code = tab.vae_interpolate(ctx, model="vae-8d", steps=4, a_index=0, b_index=1)
    assert lerp.width > lerp.height and '"steps": 4' in recipe_json
    a, _, _ = data.heldout_digit(0)
    b, _, _ = data.heldout_digit(1)
    want = engine.interpolate_images(reg.get("vae-8d"), images=torch.cat([a, b]), steps=4)
    from studio.plots import image_grid

    assert np.array_equal(np.asarray(lerp), np.asarray(image_grid(want["lerp"], 4, scale=3)))  # what the engine draws
    row, stats = tab.vae_reconstruct(ctx, model="vae-8d", seed=1, a_index=2)
    assert stats.startswith("μ = (") and row.width >= 8 * 28 * 3 and row.height >= 28 * 3  # input, mean, 6 samples
    params = inspect.signature(wired(tab.vae_map, ctx, model=ctx.default_2d)).parameters
    assert params["model"].default == "vae-2d" and "ctx" not in params
    click = inspect.signature(wired(tab.vae_map_click, ctx)).parameters
    assert list(click) == ["key", "geom", "evt"]
    import typing

    import gradio as gr

    assert typing.get_type_hints(wired(tab.vae_map_click, ctx))["evt"] is gr.SelectData  # Gradio passes the click
