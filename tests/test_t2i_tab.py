"""The Text to image tab (studio/diffusion/text_to_image/tab.py): its handlers called with keyword arguments, a picture's
recipe read back from its PNG (through the launched studio too), img2img on both kinds of model."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from studio.config import Settings
from studio.diffusion import engine
from studio.diffusion.text_to_image import engine as t2i_engine
from studio.diffusion.text_to_image import tab as tab
from studio.errors import StudioError
from studio.registry import ModelRegistry, ModelSpec


@pytest.fixture(scope="module")
def ctx(tiny_sd_dir):
    reg = ModelRegistry([ModelSpec(key="tiny-sd", family="t2i", source=str(tiny_sd_dir), loader="diffusers-sd",
                                   builtin=True)], device="cpu")
    return tab.TextToImageContext.of(reg, Settings(max_batch=4))


def test_t2i_run_streams_then_answers_the_engines_run_and_every_picture_carries_its_recipe(ctx):
    *previews, final = tab.t2i_run(ctx, model="tiny-sd", prompt="a thin two", steps=3, seed=5, batch_size=2)
    assert previews and previews[0][0].startswith("step 1 of 3")
    run = final[7]
    direct = t2i_engine.run(ctx.registry.get("tiny-sd"), prompt="a thin two", seed=5, steps=3, batch=2)
    assert torch.equal(run.images, direct.images)
    assert "Tokens the text encoder read" in final[0] and "`two</w>`" in final[0]
    for i, (picture, caption) in enumerate(final[6]):
        recipe = tab.Recipe.from_json(picture.info[tab.RECIPE_CHUNK])
        assert recipe.seed == 5 + i and recipe.params["batch"] == 1 and caption == f"seed {5 + i}"
        alone = t2i_engine.run(ctx.registry.get("tiny-sd"), seed=recipe.seed, **recipe.params)
        assert torch.allclose(alone.images[0], run.images[i], atol=1e-5)  # the recipe redraws that picture


def test_a_png_exported_or_saved_from_a_result_restores_the_controls(ctx, tmp_path):
    final = list(tab.t2i_run(ctx, model="tiny-sd", prompt="a wide zero", negative_prompt="a one", steps=2, seed=9,
                             guidance_scale=3.0, batch_size=1, variation_seed=40, variation_strength=0.3))[-1]
    gif, strip = tab.t2i_export(ctx, model="tiny-sd", run=final[7])
    *values, note = tab.t2i_restore(ctx, strip)
    assert values[:9] == ["tiny-sd", "a wide zero", "a one", "DPM-Solver++ 2M", 2, 0.0, 3.0, 9, 1]
    assert values[11:] == [40, 0.3] and "Not restored" not in note
    assert Image.open(gif).n_frames >= 3
    # a result picture saved as a PNG keeps its text chunk (as Gradio writes it: pu.get_pil_metadata)
    from gradio import processing_utils as pu

    saved = tmp_path / "result.png"
    picture = final[6][0][0]
    picture.save(saved, pnginfo=pu.get_pil_metadata(picture))
    assert tab.t2i_restore(ctx, str(saved))[7] == 9
    # what cannot be restored is said, never silently changed
    foreign = tab.Recipe(family="t2i", action="run", model="sd-xl-we-do-not-have", params={
        "prompt": "a cat", "scheduler": "Euler", "steps": 5000, "guidance": 2.0}, seed=1)
    *values, note = tab.t2i_apply_recipe(ctx, foreign.to_json())
    assert "sd-xl-we-do-not-have" in note and "steps = 5000" in note and values[1] == "a cat"
    plain = tmp_path / "plain.png"
    Image.new("L", (8, 8)).save(plain)
    with pytest.raises(StudioError, match="carries no recipe"):
        tab.t2i_restore(ctx, str(plain))


def test_img2img_from_a_held_out_digit_reproduces_from_its_recipe(ctx):
    *_, final = tab.t2i_img2img(ctx, model="tiny-sd", prompt="a seven", steps=5, seed=2, batch_size=1,
                                heldout_index=3, strength=0.6)
    run = final[7]
    assert run.steps == 3 and "noised to strength 0.6: 3 of 5 steps run" in final[0]
    from studio.recipe import Recipe, run_recipe

    recipe = Recipe.from_json(final[10])
    assert recipe.action == "img2img" and recipe.params["heldout_index"] == 3
    assert torch.allclose(run_recipe(recipe, ctx.registry).images, run.images, atol=1e-5)
    with pytest.raises(StudioError, match="the upload is empty"):
        list(tab.t2i_img2img(ctx, model="tiny-sd", source="upload"))


def test_grid_compare_and_a_full_decode(ctx):
    gallery, note = tab.t2i_grid(ctx, model="tiny-sd", guidances="1, 3", steps_list="2", seed=1)
    assert [c for _, c in gallery["value"]] == ["2 steps · w = 1 · NFE 2", "2 steps · w = 3 · NFE 4"]
    with pytest.raises(StudioError, match="numbers separated by commas"):
        tab.t2i_grid(ctx, model="tiny-sd", guidances="one, two")
    items, note, answer = tab.t2i_compare(ctx, model="tiny-sd", nfe_budget=4, quiz=True, seed=3)
    assert answer and "Strip A" in items[0][1]
    run = list(tab.t2i_run(ctx, model="tiny-sd", steps=3, batch_size=1))[-1][7]
    xt, x0, eps, schedule, guide, guide_note = tab.t2i_step(ctx, model="tiny-sd", run=run, k=2)
    assert guide is not None and "Step 2" in guide_note and x0.size == xt.size == eps.size
    picture, note = tab.t2i_decode_step(ctx, model="tiny-sd", run=run, step=2)
    assert "Step 2" in note and picture.width == picture.height
    with pytest.raises(StudioError, match="Run first"):
        tab.t2i_decode_step(ctx, model="tiny-sd")


def test_pixel_img2img_runs_the_last_strength_of_the_schedule_from_the_noised_digit(tiny_unet_dir):
    from studio.data import heldout_digit
    from studio.diffusion import pictures
    from studio.diffusion.loader import load_unet

    bundle = load_unet(tiny_unet_dir, device=torch.device("cpu"), dtype=torch.float32)
    x, _, _ = heldout_digit(4)
    picture = pictures.digit_as_x0(bundle, x)[None]
    r = engine.run(bundle, seed=6, scheduler="DDIM", steps=10, digit="3", init_image=picture, strength=0.3)
    sched = engine.make_scheduler(bundle, "DDIM")
    sched.set_timesteps(10)
    expected = sched.add_noise(picture, engine.initial_noise(bundle, [6]), sched.timesteps[7:8])
    assert r.steps == 3 and r.timesteps[0] == float(sched.timesteps[7]) and torch.allclose(r.x_t[0], expected, atol=1e-6)
    from studio.recipe import run_recipe  # noqa: F401 - the engine action a recipe names
    again = engine.img2img(bundle, seed=6, heldout_index=4, scheduler="DDIM", steps=10, digit="3", strength=0.3)
    assert torch.allclose(again.images, r.images, atol=1e-6)
    with pytest.raises(ValueError, match="runs no step"):
        engine.run(bundle, seed=0, steps=4, init_image=picture, strength=0.1)


def test_the_launched_studio_serves_t2i_and_its_result_pngs_keep_their_recipe(tiny_sd_dir, tmp_path):
    from gradio_client import handle_file

    from tests.helpers import launched

    reg = ModelRegistry([ModelSpec(key="tiny-sd", family="t2i", source=str(tiny_sd_dir), loader="diffusers-sd",
                                   builtin=True)], device="cpu")
    with launched(reg) as client:
        out = client.predict(prompt="a thick one", steps=2, seed=4, batch_size=1, api_name="/t2i_run")
        gallery = out[6]
        png = gallery[0]["image"]
        assert Image.open(png).text[tab.RECIPE_CHUNK].startswith('{"format"')
        restored = client.predict(picture=handle_file(png), api_name="/t2i_restore")
        assert restored[1] == "a thick one" and restored[7] == 4
