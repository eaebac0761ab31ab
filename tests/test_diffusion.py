"""Diffusion engine and tab: every scheduler on a tiny UNet, the kept frames, guidance, comparison at equal NFE,
the forward process, the Hub (unconditional, 3-channel) path, and the endpoints through gradio_client."""

from __future__ import annotations

import json
import math
import types

import pytest
import torch
from PIL import Image

from studio.config import REPO_ROOT, Settings
from studio.diffusion import engine
from studio.diffusion.loader import load_unet
from studio.recipe import Recipe, run_recipe
from studio.registry import ModelRegistry, ModelSpec
from tests.helpers import launched, save_tiny_unet

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cond(tiny_unet_dir):
    return load_unet(tiny_unet_dir, device=CPU, dtype=torch.float32)


@pytest.fixture(scope="module")
def rgb_dir(tmp_path_factory):
    # google/ddpm-cifar10-32's format: an unconditional 3-channel UNet2DModel + a DDPM scheduler
    return save_tiny_unet(tmp_path_factory.mktemp("models") / "tiny-rgb", num_classes=0, channels=3)


@pytest.fixture(scope="module")
def rgb(rgb_dir):
    return load_unet(rgb_dir, device=CPU, dtype=torch.float32)


@pytest.mark.parametrize("name", list(engine.SCHEDULERS))
def test_every_scheduler_keeps_one_frame_per_step_and_is_deterministic(cond, name):
    steps, batch = 5, 2
    a = engine.sample(cond, seed=3, scheduler=name, steps=steps, guidance=2.0, digit="4", batch=batch)
    b = engine.sample(cond, seed=3, scheduler=name, steps=steps, guidance=2.0, digit="4", batch=batch)
    shape = (batch, 1, 8, 8)
    assert a.x_t.shape == (steps + 1, *shape)  # every step's input, then the result
    assert a.x0_hat.shape == a.eps_hat.shape == a.eps_cond.shape == (steps, *shape)
    assert len(a.timesteps) == len(a.alpha_bar) == steps
    assert a.timesteps == sorted(a.timesteps, reverse=True)  # noise level goes down
    assert all(0 < ab <= 1 for ab in a.alpha_bar)
    assert a.alpha_bar == sorted(a.alpha_bar)  # ᾱ_t grows as t falls
    assert float(a.x0_hat.min()) >= -1 and float(a.x0_hat.max()) <= 1
    assert torch.isfinite(a.x_t).all()
    assert torch.equal(a.x_t, b.x_t) and torch.equal(a.images, b.images)  # same seed, same run
    assert a.nfe == engine.nfe(name, steps) * 2  # guidance: two predictions per evaluation
    assert a.nfe == (2 * (2 * steps - 1) if name == "Heun" else 2 * steps)
    c = engine.sample(cond, seed=4, scheduler=name, steps=steps, guidance=2.0, digit="4", batch=batch)
    assert not torch.equal(a.images, c.images)  # another seed, another picture


def test_x0_hat_follows_from_x_t_and_eps(cond):
    r = engine.sample(cond, seed=0, scheduler="DDIM", steps=4, guidance=1.0, digit="2", batch=1)
    for k in range(r.steps):
        ab = r.alpha_bar[k]
        expected = ((r.x_t[k] - math.sqrt(1 - ab) * r.eps_hat[k].float()) / math.sqrt(ab)).clamp(-1, 1)
        torch.testing.assert_close(r.x0_hat[k], expected, atol=2e-3, rtol=0)  # ε̂ is kept in float16
    # DDIM's own first step starts from x_T, unscaled
    torch.testing.assert_close(r.x_t[0], r.x_T)


def test_sigma_schedulers_store_x_t_in_the_ddpm_scale(cond):
    r = engine.sample(cond, seed=1, scheduler="Euler", steps=6, guidance=1.0, digit="0", batch=1)
    # Euler keeps x = x_T·σ_max internally; the studio shows it divided by √(1 + σ²): about x_T again
    torch.testing.assert_close(r.x_t[0], r.x_T, atol=1e-4, rtol=1e-4)


def test_image_i_depends_only_on_its_seed(cond):
    batch = engine.sample(cond, seed=10, scheduler="DDPM", steps=5, guidance=1.5, digit="7", batch=3)
    alone = engine.sample(cond, seed=11, scheduler="DDPM", steps=5, guidance=1.5, digit="7", batch=1)
    torch.testing.assert_close(batch.images[1], alone.images[0], atol=1e-5, rtol=0)


def test_guidance_view_has_three_predictions_and_w_one_has_none(cond):
    r = engine.sample(cond, seed=0, scheduler="DDIM", steps=4, guidance=3.0, digit="5", batch=2)
    v = r.guidance_view(1)
    assert set(v) == {"cond", "uncond", "guided"}
    guided = v["uncond"][1] + 3.0 * (v["cond"][1] - v["uncond"][1])
    torch.testing.assert_close(v["guided"][1], guided, atol=3e-2, rtol=0)  # float16 storage
    plain = engine.sample(cond, seed=0, scheduler="DDIM", steps=4, guidance=1.0, digit="5", batch=2)
    assert plain.eps_cond is None and plain.nfe == 4
    with pytest.raises(ValueError, match="not guided"):
        plain.guidance_view(0)


def test_guidance_zero_equals_unconditional(cond):
    a = engine.sample(cond, seed=2, scheduler="DDIM", steps=4, guidance=0.0, digit="5", batch=1)
    b = engine.sample(cond, seed=2, scheduler="DDIM", steps=4, guidance=1.0, digit="none", batch=1)
    torch.testing.assert_close(a.images, b.images)
    assert a.labels == [5] and b.labels == [None]


def test_compare_uses_identical_noise_and_equal_nfe(cond):
    runs = engine.compare(cond, seed=5, schedulers=["DDIM", "Heun", "UniPC"], nfe_budget=9, guidance=2.0,
                          digit="any", batch=2)
    assert [r.scheduler for r in runs] == ["DDIM", "Heun", "UniPC"]
    assert [r.steps for r in runs] == [9, 5, 9]
    assert [r.nfe for r in runs] == [18, 18, 18]
    for r in runs[1:]:
        assert torch.equal(r.x_T, runs[0].x_T)
        assert r.labels == runs[0].labels
    with pytest.raises(ValueError, match="1 to 3"):
        engine.compare(cond, seed=0, schedulers=["DDIM"] * 4)


def test_forward_process_matches_the_closed_form(cond):
    x0 = torch.linspace(-1, 1, 64).view(1, 8, 8)
    out = engine.forward_process(cond, seed=9, x0=x0, timesteps=[0, 500, 999])
    assert out["x_t"].shape == (3, 1, 8, 8)
    for i, ab in enumerate(out["alpha_bar"]):
        torch.testing.assert_close(out["x_t"][i], math.sqrt(ab) * x0 + math.sqrt(1 - ab) * out["eps"], atol=1e-5,
                                   rtol=0)
    assert out["alpha_bar"][0] > 0.999 and out["alpha_bar"][2] < 1e-3  # DDPM linear schedule ends near pure noise
    assert out["snr"] == sorted(out["snr"], reverse=True)
    with pytest.raises(ValueError, match=r"t must be a whole number in \[0, 999\], got 1000\."):
        engine.forward_process(cond, seed=0, x0=x0, timesteps=[1000])


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, r"steps must be a whole number in \[1, 1000\], got 0\."),
    ({"steps": 10_000}, r"steps must be a whole number in \[1, 1000\], got 10000\."),
    ({"steps": 2.5}, "whole number"),
    ({"scheduler": "PLMS"}, "scheduler must be one of DDPM, DDIM"),
    ({"guidance": float("nan")}, "guidance w must be a number"),
    ({"guidance": float("inf")}, r"guidance w must be a number in \[0, 20\.0\], got inf\."),
    ({"guidance": -1}, r"guidance w must be a number in \[0, 20\.0\], got -1\."),
    ({"batch": 17}, r"batch size must be a whole number in \[1, 16\], got 17\."),
    ({"eta": 2}, r"η must be a number in \[0, 1\], got 2\."),
    ({"digit": "12"}, "digit must be 'any', 'none' or 0..9"),
    ({"scheduler": "Heun", "steps": 1}, "Heun needs at least 2 steps"),
])
def test_bad_settings_get_clear_messages(cond, kwargs, message):
    with pytest.raises(ValueError, match=message):
        engine.sample(cond, **({"seed": 0} | kwargs))


def test_hosted_limit_on_batch_is_reported(cond):
    with pytest.raises(ValueError, match=r"batch size must be a whole number in \[1, 8\]"):
        engine.run(cond, seed=0, batch=9, max_batch=8)


def test_unconditional_rgb_model_runs_through_the_same_loop(rgb):
    assert rgb.num_classes == 0 and rgb.in_channels == 3
    r = engine.sample(rgb, seed=0, scheduler="DPM-Solver++ 2M", steps=4, guidance=2.0, digit="none", batch=2)
    assert r.images.shape == (2, 3, 8, 8) and r.eps_cond is None and r.nfe == 4  # no guidance without classes
    with pytest.raises(ValueError, match="unconditional"):
        engine.sample(rgb, seed=0, steps=4, digit="3")


def test_recipe_round_trip_reproduces_the_run(cond, tiny_unet_dir):
    r = engine.sample(cond, seed=12, scheduler="Euler ancestral", steps=4, guidance=2.5, digit="6", batch=2)
    recipe = Recipe(family="diffusion", action="run", model="tiny", params=r.settings, seed=12)
    reg = ModelRegistry([ModelSpec(key="tiny", family="diffusion", source=str(tiny_unet_dir), loader="diffusers-unet")],
                        device="cpu")
    again = run_recipe(Recipe.from_json(recipe.to_json()), reg)
    torch.testing.assert_close(again.images, r.images)


def test_settings_read_diffusion_limits_from_the_environment():
    assert Settings.from_env({}).max_diffusion_steps == 1000 and Settings.from_env({}).max_batch == 16
    hosted = Settings.from_env({"STUDIO_HOSTED": "1"})
    assert hosted.max_diffusion_steps == 100 and hosted.max_batch == 8
    assert Settings.from_env({"STUDIO_MAX_BATCH": "4"}).max_batch == 4
    with pytest.raises(ValueError, match="STUDIO_MAX_DIFFUSION_STEPS"):
        Settings.from_env({"STUDIO_MAX_DIFFUSION_STEPS": "lots"})


# --- the tab, through gradio_client ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(tiny_unet_dir, rgb_dir):
    from studio.catalog import builtin_specs

    judge = [s for s in builtin_specs(REPO_ROOT / "checkpoints") if s.family == "judge"]
    reg = ModelRegistry([*judge,
                         ModelSpec(key="tiny-cond", family="diffusion", source=str(tiny_unet_dir), loader="diffusers-unet"),
                         ModelSpec(key="tiny-rgb", family="diffusion", source=str(rgb_dir), loader="diffusers-unet")],
                        device="cpu")
    with launched(reg, Settings(allow_hub=False, max_batch=8)) as c:
        yield c


def test_diffusion_run_streams_and_is_callable_with_no_arguments(client):
    job = client.submit(api_name="/diffusion_run")
    updates = list(job)
    final = job.result()
    assert len(updates) >= 3  # previews while it runs, then the result
    # the defaults: Euler ancestral, 20 steps, w = 1 (the setting the quality floor is measured at)
    assert "20 steps of Euler ancestral" in final[0] and "20 model evaluations per image" in final[0]
    assert Image.open(final[1]).size == Image.open(final[2]).size
    recipe = json.loads(final[9])  # (gr.State is not part of the API's outputs)
    assert recipe["family"] == "diffusion" and recipe["params"]["steps"] == 20
    assert "engine" in final[10]


def test_diffusion_run_settings_and_result(client):
    out = client.predict("tiny-cond", "Heun", 5, 0.0, "3", 3.0, 7, 2, api_name="/diffusion_run")
    assert "5 steps of Heun" in out[0] and "18 model evaluations" in out[0]
    assert len(out[6]) == 2 and out[6][0]["caption"].startswith("seed 7 · asked 3")
    same = client.predict("tiny-cond", "Heun", 5, 0.0, "3", 3.0, 7, 2, api_name="/diffusion_run")
    assert Image.open(out[6][1]["image"]).tobytes() == Image.open(same[6][1]["image"]).tobytes()


def test_hub_style_unconditional_rgb_model_in_the_tab(client):
    out = client.predict("tiny-rgb", "DDIM", 6, 0.5, "none", 1.0, 1, 2, api_name="/diffusion_run")
    assert "6 steps of DDIM" in out[0]
    assert Image.open(out[6][0]["image"]).mode == "RGB"
    with pytest.raises(Exception, match="unconditional"):
        client.predict("tiny-rgb", "DDIM", 6, 0.5, "3", 1.0, 1, 2, api_name="/diffusion_run")


@pytest.mark.parametrize("args, message", [
    (("tiny-cond", "DDIM", 0, 0, "3", 2, 0, 1), "Steps: Value 0 is less than minimum value 2"),
    (("tiny-cond", "DDIM", 10_000, 0, "3", 2, 0, 1), "Steps: Value 10000 is greater than maximum value 1000"),
    (("tiny-cond", "Nope", 5, 0, "3", 2, 0, 1), "Scheduler: Value: Nope is not in the list of choices"),
    (("tiny-cond", "DDIM", 5, 0, "3", 2, 0, 9), "Batch size: Value 9 is greater than maximum value 8"),
    (("no-such-model", "DDIM", 5, 0, "3", 2, 0, 1), "Unknown model 'no-such-model'"),
])
def test_diffusion_run_bad_input_messages(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/diffusion_run")
    assert "steps of" in client.predict("tiny-cond", "DDIM", 3, 0, "1", 1.0, 0, 1, api_name="/diffusion_run")[0]


def test_compare_forward_and_export_endpoints(client):
    gallery, note = client.predict("tiny-cond", ["DDIM", "Heun", "UniPC"], 9, 0, "any", 2.0, 3, 2, False,
                                   api_name="/diffusion_compare")
    assert len(gallery) == 3 and "checked: identical" in note
    assert [g["caption"] for g in gallery] == ["DDIM: 9 steps · 18 model evaluations per image",
                                              "Heun: 5 steps · 18 model evaluations per image",
                                              "UniPC: 9 steps · 18 model evaluations per image"]
    hidden, question = client.predict("tiny-cond", ["DDIM", "Heun", "UniPC"], 9, 0, "any", 2.0, 3, 2, True,
                                      api_name="/diffusion_compare")
    assert [g["caption"] for g in hidden] == ["Strip A", "Strip B", "Strip C"] and "Reveal" in question
    answer = client.predict(api_name="/diffusion_reveal")
    assert all(f"**{x}** = " in answer for x in "ABC") and "Heun: 5 steps" in answer
    # the strips are the same pictures, shuffled: each hidden strip is one of the named ones
    named = {Image.open(g["image"]).tobytes(): g["caption"] for g in gallery}
    shown = [named[Image.open(g["image"]).tobytes()] for g in hidden]
    assert sorted(shown) == sorted(named.values())
    assert all(f"**{x}** = {name}" in answer for x, name in zip("ABC", shown))
    strip, fwd_note = client.predict("tiny-cond", 5, 40, 0, api_name="/diffusion_forward")
    assert "At t = 40" in fwd_note and Image.open(strip).width > Image.open(strip).height
    assert "At t = 250" in client.predict(api_name="/diffusion_forward")[1]


def test_export_writes_a_gif_per_step_and_a_png_strip(client):
    from gradio_client import Client

    fresh = Client(client.src, verbose=False, ssl_verify=False)  # a new session has no run yet
    try:
        with pytest.raises(Exception, match="Run the reverse process first"):
            fresh.predict("tiny-cond", api_name="/diffusion_export")
    finally:
        fresh.close()
    client.predict("tiny-cond", "DDIM", 6, 0, "2", 2.0, 0, 2, api_name="/diffusion_run")
    gif, png = client.predict("tiny-cond", api_name="/diffusion_export")
    with Image.open(gif) as im:
        assert im.n_frames == 6 + 1  # one frame per step, then the result (Pillow merges its 8 copies into one)
        first = im.info["duration"]
        im.seek(6)
        assert im.info["duration"] > first  # ...held longer
    with Image.open(png) as im:
        assert im.width > im.height


def test_pictures_guidance_panel_shows_the_three_predictions_and_their_gap(cond):
    """The guidance panel, made without a server: per image, x̂₀ of the conditional, unconditional and guided ε̂
    over [−1, 1], then those ε̂ over [−2, 2]; the gap is the RMS of ε̂(y) − ε̂(∅)."""
    import numpy as np

    from studio.diffusion import pictures

    run = engine.sample(cond, seed=0, scheduler="DDIM", steps=3, guidance=3.0, digit="5", batch=2)
    img, gap = pictures.guidance(run, 1)
    v = run.guidance_view(1)
    s = pictures.scale_for(run)
    size = run.x_t.shape[-1] * s
    arr = np.asarray(img.convert("L"), dtype=np.float32) / 255
    assert img.width >= 6 * size and img.height >= 2 * size  # 6 columns, one row per image
    want = (v["cond"][1][:2] - v["uncond"][1][:2]).pow(2).mean().sqrt().item()
    assert gap == pytest.approx(want, rel=1e-6) and gap > 0
    # each cell, sampled back at the model's resolution, is that prediction's grey levels
    want_cells = []
    for i in range(2):
        want_cells += [((v[p][0][i] + 1) / 2).clamp(0, 1) for p in ("cond", "uncond", "guided")]
        want_cells += [((v[p][1][i] + 2) / 4).clamp(0, 1) for p in ("cond", "uncond", "guided")]
    pad = (img.width - 6 * size) // 7
    n = run.x_t.shape[-1]
    for j, want_cell in enumerate(want_cells):
        row, col = divmod(j, 6)
        y0, x0 = pad + row * (size + pad), pad + col * (size + pad)
        shown = arr[y0:y0 + size:s, x0:x0 + size:s]
        assert shown.shape == (n, n)
        assert np.allclose(shown, want_cell[0].numpy(), atol=1.5 / 255), f"cell {j}"
    plain = engine.sample(cond, seed=0, scheduler="DDIM", steps=3, guidance=1.0, digit="5", batch=2)
    assert pictures.guidance(plain, 1) == (None, None)


def test_pictures_strips_frames_and_the_digit_as_x0(cond, rgb):
    from studio.diffusion import pictures

    run = engine.sample(cond, seed=1, scheduler="DDIM", steps=5, guidance=1.0, digit="3", batch=3)
    s, size = pictures.scale_for(run), run.x_t.shape[-1]
    assert s == 128 // size
    assert len(pictures.export_frames(run, hold=8)) == run.steps + 8
    assert len(pictures.result_images(run)) == 3 and pictures.result_images(run)[0].size == (size * s, size * s)
    assert pictures.compare_strip(run).height >= 3 * size * s  # one row per image (3 here)
    assert pictures.export_strip(run).height >= 6 * size * s  # x_t and x̂₀ rows per image
    other = engine.sample(cond, seed=1, scheduler="Euler", steps=5, guidance=1.0, digit="3", batch=3)
    assert pictures.same_start([run, other])
    assert not pictures.same_start([run, engine.sample(cond, seed=2, scheduler="Euler", steps=5, guidance=1.0,
                                                       digit="3", batch=3)])
    digit = torch.zeros(1, 1, 28, 28)
    digit[..., 10:18, 12:16] = 1.0
    x0 = pictures.digit_as_x0(cond, digit)
    assert x0.shape == (cond.in_channels, cond.sample_size, cond.sample_size)
    mnist_size = types.SimpleNamespace(sample_size=32, in_channels=1)  # the built-in model's shape
    x0 = pictures.digit_as_x0(mnist_size, digit)
    assert x0.shape == (1, 32, 32) and x0[0, :2].eq(-1).all() and x0[0, :, :2].eq(-1).all()  # black border
    assert torch.equal(x0[0, 2:30, 2:30], digit[0, 0] * 2 - 1)  # the digit itself, in [-1, 1], moved by 2 px
    x0_rgb = pictures.digit_as_x0(rgb, digit)
    assert x0_rgb.shape == (3, rgb.sample_size, rgb.sample_size) and torch.equal(x0_rgb[0], x0_rgb[2])


def test_the_handlers_are_functions_a_test_calls_with_keyword_arguments(tiny_unet_dir):
    """No server: the tab's handlers are module-level functions of the tab's context; the wired versions that
    Gradio calls have the context bound, the tab's model as the default, and the same documented parameters."""
    import inspect

    from studio.diffusion import tab, views_tab
    from studio.errors import StudioError
    from studio.ui.wiring import bind, wired

    reg = ModelRegistry([ModelSpec(key="tiny-cond", family="diffusion", source=str(tiny_unet_dir),
                                   loader="diffusers-unet", builtin=True)], device="cpu")
    ctx = tab.DiffusionContext.of(reg, Settings(max_batch=2))
    assert ctx.default_model == "tiny-cond" and ctx.max_batch == 2
    *previews, final = tab.diffusion_run(ctx, model="tiny-cond", scheduler="DDIM", steps=3, seed=5, batch_size=2)
    run = final[7]
    assert isinstance(run, engine.DiffusionRun) and run.steps == 3 and run.seeds == [5, 6]
    direct = engine.sample(reg.get("tiny-cond"), seed=5, scheduler="DDIM", steps=3, guidance=1.0, digit="any", batch=2)
    assert torch.equal(run.images, direct.images)  # the handler draws what the engine draws
    strip, note = tab.diffusion_forward(ctx, model="tiny-cond", heldout_index=3, timestep=500, seed=0)
    assert "t = 500" in note and strip.width > strip.height
    with pytest.raises(ValueError, match=r"batch size must be a whole number in \[1, 2\]"):
        list(tab.diffusion_run(ctx, model="tiny-cond", batch_size=3))  # the context's limit
    handler = bind(tab.diffusion_run, ctx, model="tiny-cond")
    params = inspect.signature(handler).parameters
    assert list(params)[0] == "model" and params["model"].default == "tiny-cond" and "ctx" not in params
    assert handler.__name__ == "diffusion_run" and "Args:" in handler.__doc__
    assert list(params) == list(inspect.signature(tab.diffusion_run).parameters)[1:]
    with pytest.raises(TypeError, match="takes the tab's context as its first argument"):
        bind(views_tab.scheduler_changed, ctx)
    import gradio as gr

    with pytest.raises(gr.Error, match="Run the reverse process first"):
        wired(tab.diffusion_export, ctx)()
    with pytest.raises(StudioError, match="Run the reverse process first"):
        tab.diffusion_export(ctx, model="tiny-cond")


@pytest.mark.parametrize("pipeline, kwargs", [("DDPMPipeline", {}), ("DDIMPipeline", {"eta": 0.0}),
                                              ("DDIMPipeline", {"eta": 1.0})])
def test_the_pixel_loop_is_diffusers_own_pipeline(rgb, pipeline, kwargs, monkeypatch):
    """The loop against diffusers' DDPMPipeline and DDIMPipeline on the unconditional RGB model (google/ddpm-cifar10's
    format): the same x_T (the pipeline's first randn is handed ours) and the same per-image generators for the
    stochastic steps; DDIM with ``use_clipped_model_output=True``, what the studio chooses for a model whose scheduler
    clips x̂₀ (this one does: the DDPM paper's clip_sample)."""
    import importlib

    import diffusers

    seeds = [3, 4]
    ours = engine.run(rgb, seed=3, batch=2, digit="none", scheduler=pipeline.removesuffix("Pipeline"), steps=12,
                      **kwargs)
    module = importlib.import_module(f"diffusers.pipelines.{pipeline[:4].lower()}.pipeline_{pipeline[:4].lower()}")
    x_T = engine.initial_noise(rgb, seeds)
    monkeypatch.setattr(module, "randn_tensor", lambda shape, **_: x_T.clone())  # x_T only; the steps keep theirs
    pipe = getattr(diffusers, pipeline)(unet=rgb.unet, scheduler=engine.make_scheduler(rgb, "DDPM"))
    pipe.set_progress_bar_config(disable=True)
    gens = [torch.Generator().manual_seed(s + 1_000_003) for s in seeds]
    extra = {"use_clipped_model_output": True} if pipeline == "DDIMPipeline" else {}
    ref = pipe(batch_size=2, generator=gens, num_inference_steps=12, output_type="np", **kwargs, **extra).images
    got = (ours.images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert got.shape == ref.shape == (2, 8, 8, 3)
    assert abs(got - ref).max() < 1e-5


@pytest.mark.parametrize("name", ["Euler", "Heun"])
def test_x0_hat_of_a_sigma_scheduler_is_the_schedulers_own_prediction_at_every_step(rgb, name):
    """For the σ-parameterised schedulers (x = x₀ + σε, the network reading x / √(σ² + 1)) each kept step's x̂₀ is the
    scheduler's own ``pred_original_sample`` for that step (Heun: its first, predictor, evaluation), replayed here with
    diffusers alone from the same x_T. Timesteps spaced "linspace" fall between the table's integers (749.25, ...),
    where ᾱ must come from the step's σ; compared before the picture's clip to [−1, 1] (x̂₀ from the kept x_t, ε̂)."""
    import dataclasses

    import diffusers

    from studio.diffusion.loop import x0_from

    bundle = dataclasses.replace(rgb, scheduler_config={**rgb.scheduler_config, "timestep_spacing": "linspace"})
    run = engine.run(bundle, seed=3, batch=1, digit="none", scheduler=name, steps=5)
    sched = getattr(diffusers, engine.SCHEDULERS[name]).from_config(bundle.scheduler_config)
    sched.set_timesteps(5)
    assert sched.timesteps[1] % 1 != 0  # between two integers
    x = engine.initial_noise(rgb, [3]) * sched.init_noise_sigma
    predicted = []
    with torch.no_grad():
        for t in sched.timesteps:
            first = getattr(sched, "state_in_first_order", True)
            eps = rgb.unet(sched.scale_model_input(x, t), t).sample
            out = sched.step(eps, t, x)
            if first:
                predicted.append(out.pred_original_sample)
            x = out.prev_sample
    assert run.steps == len(predicted) == 5
    sigmas = [float(sched.sigmas[i]) for i in range(len(sched.sigmas)) if name != "Heun" or i % 2 == 0][:5]
    for k in range(5):
        ours = x0_from(run.states[k], run.eps_hat[k].float(), run.alpha_bar[k], clip=False)
        if name == "Heun":  # HeunDiscreteScheduler clips its x̂₀ when the config says clip_sample (this one does)
            ours = ours.clamp(-1, 1)
        tol = 1e-3 * (1 + sigmas[k])  # ε̂ is kept in float16; x̂₀ = x − σ ε̂
        assert (ours - predicted[k]).abs().max() < tol, (k, (ours - predicted[k]).abs().max(), tol)
        assert (run.x0_hat[k].float() - predicted[k].clamp(-1, 1)).abs().max() < tol
    assert torch.allclose(run.images, x.clamp(-1, 1), atol=1e-4)


def test_the_shared_views_enable_eta_for_ddim_alone_and_start_img2img_from_the_picture_given(tmp_path):
    """studio/diffusion/views_tab.py, which both diffusion tabs use: η is DDIM's alone (diffusers' DDIMScheduler.step
    is the one of these that takes it), and img2img starts from what was given: a held-out digit padded as the
    model was trained, a grey upload read as an MNIST digit, a colour upload as its colours."""
    import inspect

    import numpy as np
    from diffusers import DDIMScheduler

    from studio.data import heldout_digit
    from studio.diffusion import views_tab
    from studio.errors import StudioError

    enabled = {name: views_tab.scheduler_changed(name)[1]["interactive"] for name in engine.SCHEDULERS}
    assert enabled == {name: name == "DDIM" for name in engine.SCHEDULERS}
    assert "eta" in inspect.signature(DDIMScheduler.step).parameters
    assert views_tab.scheduler_changed("no such scheduler")[1] is not None  # left as it was (gr.skip())

    x, label, index = heldout_digit(5)
    start, what = views_tab.img2img_source(32, 3, "held-out digit", 5, None, None)
    assert start.shape == (1, 3, 32, 32) and what == f"held-out digit {label} (MNIST #{index})"
    assert torch.equal(start[0, :, 2:30, 2:30], (x[0, 0] * 2 - 1).expand(3, -1, -1))  # 28×28 in the middle
    assert torch.all(start[..., :2, :] == -1) and torch.all(start[..., :, 30:] == -1)  # black padding

    red = tmp_path / "red.png"
    Image.new("RGB", (20, 10), (255, 0, 0)).save(red)
    start, what = views_tab.img2img_source(8, 3, "upload", 0, str(red), None)
    assert what == "the upload" and start.shape == (1, 3, 8, 8)
    assert torch.all(start[0, 0] == 1) and torch.all(start[0, 1:] == -1)

    stroke = np.zeros((56, 56), np.uint8)
    stroke[10:46, 26:30] = 255  # a bar: a "1"
    grey, _ = views_tab.img2img_source(32, 1, "drawing", 0, None, {"composite": stroke})
    assert grey.shape == (1, 1, 32, 32) and grey.max() == 1 and grey[0, 0, :, :4].max() == -1  # centred ink
    with pytest.raises(StudioError, match="the upload is empty"):
        views_tab.img2img_source(32, 1, "upload", 0, None, None)


def test_the_harness_spot_samples_are_the_full_runs_first_pictures_of_each_digit(cond):
    """eval.json's spot figures rest on this: sampling only the first ``take`` of each digit gives the very pictures
    (and labels) of the full run, though the full run draws each digit in one batch of all its seeds."""
    from studio.diffusion.evaluate import samples, spot_of

    full, labels = samples(cond, n_per_class=5, steps=3, chunk=7)  # chunks cut digits in two
    part, part_labels = samples(cond, n_per_class=5, steps=3, chunk=7, take=2)
    idx = spot_of(full, labels, per_class=2)
    assert idx.tolist() == [i for d in range(10) for i in (5 * d, 5 * d + 1)]
    assert torch.equal(part_labels, labels[idx]) and len(part) == 20
    torch.testing.assert_close(part, full[idx], atol=1e-5, rtol=0)
