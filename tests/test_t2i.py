"""Text to image the Stable Diffusion way (studio/diffusion/text_to_image/engine.py, loader.py): the studio's loop against
diffusers' own pipeline, on tiny random components saved in the standard format; bad input; img2img, variation
seeds, the guidance × steps grid."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from studio.diffusion.text_to_image import engine as t2i_engine
from studio.diffusion.loader import load_text_to_image
from studio.errors import ModelLoadError, UnsafeCheckpointError

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def sd(tiny_sd_dir):
    return load_text_to_image(tiny_sd_dir, device=CPU, dtype=torch.float32)


def test_step_pictures_are_made_when_shown_kept_and_pickled_whole(sd, tiny_sd_dir):
    import pickle

    r = t2i_engine.run(sd, prompt="a seven", seed=2, steps=4, guidance=2.0, batch=2, scheduler="DDIM")
    assert r.x0_hat._done == {}  # nothing pictured by the loop itself
    one = r.x0_hat[1]
    assert set(r.x0_hat._done) == {1} and r.x0_hat[1] is one  # made once, kept
    assert torch.allclose(one.float(), t2i_engine.decode(sd, r.x0_latent[1]), atol=2e-3)
    assert torch.equal(r.x0_hat[-1], r.x0_hat[3])
    with pytest.raises(IndexError):
        r.x0_hat[4]
    back = pickle.loads(pickle.dumps(r))  # a replayed run carries every step's picture, no model
    assert set(back.x0_hat._done) == {0, 1, 2, 3} and back.x0_hat._bundle is None
    assert torch.equal(back.x0_hat.all(), r.x0_hat.all())
    half = r.rows(1, 2)
    assert torch.equal(half.x0_hat[2], r.x0_hat[2][1:2])
    # a run whose model was unloaded since says so, not a traceback
    other = load_text_to_image(tiny_sd_dir, device=CPU, dtype=torch.float32)
    lone = t2i_engine.run(other, prompt="a one", seed=0, steps=2, guidance=1.0, scheduler="DDIM")
    del other
    import gc
    gc.collect()
    with pytest.raises(ValueError, match="unloaded"):
        lone.x0_hat[0]


@pytest.mark.parametrize("name, cls", [("DDIM", "DDIMScheduler"), ("Euler", "EulerDiscreteScheduler"),
                                       ("DPM-Solver++ 2M", "DPMSolverMultistepScheduler")])
def test_the_final_image_equals_stable_diffusion_pipeline(tiny_sd_dir, sd, name, cls):
    import diffusers
    from diffusers import StableDiffusionPipeline

    noise = t2i_engine.initial_latents(sd, [3, 4], 32, 32)
    ours = t2i_engine.run(sd, prompt="a thick, slanted seven", negative_prompt="a thin one", seed=3, batch=2,
                      scheduler=name, steps=6, guidance=4.0, latents=noise)
    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd_dir)  # the folder, unchanged
    pipe.scheduler = getattr(diffusers, cls).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe("a thick, slanted seven", negative_prompt="a thin one", num_inference_steps=6, guidance_scale=4.0,
                  latents=noise.clone(), num_images_per_prompt=2, output_type="pt").images  # (2, 1, 32, 32) in [0, 1]
    assert theirs.shape == ours.images.shape
    assert torch.allclose((ours.images + 1) / 2, theirs, atol=1e-4), float(((ours.images + 1) / 2 - theirs).abs().max())
    # and without guidance (w = 1: the pipeline makes one prediction a step, as the studio does)
    ours1 = t2i_engine.run(sd, prompt="a seven", seed=3, scheduler=name, steps=4, guidance=1.0, latents=noise[:1])
    theirs1 = pipe("a seven", num_inference_steps=4, guidance_scale=1.0, latents=noise[:1].clone(),
                   output_type="pt").images
    assert torch.allclose((ours1.images + 1) / 2, theirs1, atol=1e-4)


def test_every_step_is_kept_and_x0_follows_from_z_t_and_eps(sd):
    r = t2i_engine.run(sd, prompt="an eight", seed=1, steps=5, guidance=3.0, batch=2, scheduler="DDIM")
    assert r.latents.shape == (6, 2, 4, 8, 8) and r.x0_hat.shape == (5, 2, 1, 32, 32) and r.preview == "decoder"
    k = 2
    ab = r.alpha_bar[k]
    x0z = (r.latents[k] - (1 - ab) ** 0.5 * r.eps_hat[k].float()) / ab ** 0.5
    assert torch.allclose(x0z, r.x0_latent[k], atol=2e-3)
    assert torch.allclose(r.x0_hat[k].float(), t2i_engine.decode(sd, r.x0_latent[k]), atol=2e-3)  # ẑ₀ decoded
    g = r.guidance_view(k)
    assert torch.allclose(g["cond"][0], t2i_engine.decode(sd, r.x0_from(k, r.eps_cond[k])), atol=1e-4)
    assert torch.allclose(g["uncond"][1] + 3.0 * (g["cond"][1] - g["uncond"][1]), g["guided"][1], atol=1e-2)
    assert r.tokens == ["<|startoftext|>", "an</w>", "eight</w>", "<|endoftext|>"] and r.nfe == 10


def test_image_i_depends_only_on_its_seed_and_prompt_batched_equals_alone(sd):
    both = t2i_engine.run(sd, seeds=[7, 8], prompts=["a seven", "a thick eight"], steps=4, guidance=2.0)
    alone = t2i_engine.run(sd, prompt="a thick eight", seed=8, steps=4, guidance=2.0)
    assert torch.allclose(both.images[1], alone.images[0], atol=1e-5)
    assert torch.allclose(both.rows(1, 2).latents, alone.latents, atol=1e-5)


def test_a_long_prompt_is_cut_and_said_an_empty_one_is_unconditional(sd):
    long = t2i_engine.run(sd, prompt="a thick, slanted, wide, thin, upright, narrow seven beside an eight", seed=0,
                      steps=2, guidance=2.0)
    assert any("cut" in n and "eight" in n for n in long.notes) and len(long.tokens) == sd.max_tokens
    empty = t2i_engine.run(sd, prompt="", seed=0, steps=2, guidance=2.0)
    assert any("unconditional" in n for n in empty.notes)
    assert t2i_engine.run(sd, prompt="a seven", seed=0, steps=2, guidance=2.0).notes == []


def test_a_cut_negative_prompt_is_named_by_its_own_cut_words_with_several_prompts(sd):
    long_positive = "a thick, slanted, wide, thin, upright, narrow seven beside an eight"
    long_negative = "a thick, slanted, wide, thin, upright, narrow two beside a five"
    run = t2i_engine.run(sd, prompts=["a one", long_positive], negative_prompts=[long_negative, long_negative],
                     seeds=[0, 1], steps=2, guidance=2.0)
    negative = [n for n in run.notes if n.startswith("The negative prompt was cut")]
    ids = sd.tokenizer(long_negative)["input_ids"]  # the words past the encoder's window, by its own tokenizer
    unread = sd.tokenizer.decode(ids[sd.max_tokens - 1:-1]).strip()
    assert len(negative) == 1 and "five" in unread and "eight" not in negative[0]
    assert unread.split()[-1] in negative[0], (unread, negative)


@pytest.mark.parametrize("kwargs, message", [
    ({"height": 30}, r"height must be a multiple of 4 .* got 30; try 28 or 32"),
    ({"width": 128}, r"width must be a whole number in \[4, 64\]"),
    ({"steps": 0}, r"steps must be a whole number"),
    ({"guidance": -1}, r"guidance w must be"),
    ({"prompt": 3}, r"prompt must be text"),
    ({"init_image": torch.zeros(1, 1, 32, 32), "strength": 0.0}, r"strength must be above 0"),
])
def test_bad_input_gets_a_clear_message(sd, kwargs, message):
    with pytest.raises(ValueError, match=message):
        t2i_engine.run(sd, **{"prompt": "a seven", "seed": 0, "steps": 2, **kwargs})


def test_img2img_noises_the_picture_to_the_strength_and_runs_the_rest(sd):
    from studio.diffusion.engine import make_scheduler

    picture = torch.full((1, 1, 32, 32), -1.0)
    picture[..., 8:24, 14:18] = 1.0  # a bar: a "one"
    r = t2i_engine.run(sd, prompt="a one", seed=5, steps=10, guidance=2.0, init_image=picture, strength=0.4,
                   scheduler="DDIM")
    assert r.steps == 4 and r.settings["strength"] == 0.4  # int(10 · 0.4) steps of 10 run
    sched = make_scheduler(sd, "DDIM")
    sched.set_timesteps(10)
    z0 = t2i_engine.encode(sd, picture, generator=__import__("studio.device", fromlist=["x"]).make_generator(5 + 2_000_029))
    expected = sched.add_noise(z0, t2i_engine.initial_latents(sd, [5], 32, 32), sched.timesteps[6:7])
    assert torch.allclose(r.latents[0], expected, atol=1e-5) and r.timesteps[0] == float(sched.timesteps[6])
    # the lower the strength, the more of the picture the starting latent keeps (√ᾱ of its starting step)
    starts = [t2i_engine.run(sd, prompt="a one", seed=5, steps=10, guidance=2.0, init_image=picture, strength=s,
                         scheduler="DDIM").latents[0] for s in (0.1, 0.5, 1.0)]
    gaps = [float((z - z0).pow(2).mean()) for z in starts]
    assert gaps[0] < gaps[1] < gaps[2]


@pytest.mark.parametrize("name, cls", [("DDIM", "DDIMScheduler"), ("DPM-Solver++ 2M", "DPMSolverMultistepScheduler")])
def test_img2img_equals_stable_diffusion_img2img_pipeline(tiny_sd_dir, sd, name, cls, monkeypatch):
    """img2img against diffusers' ``StableDiffusionImg2ImgPipeline``: the pipeline encodes the picture, scales the
    latent by the autoencoder's scaling factor (0.7 in the tiny model), noises it to the step the strength picks and
    runs the rest. The same starting noise is handed to both; the encoder's spread is made negligible in both
    autoencoders alike (its log-variance at the floor diffusers clamps to), so their two samples of the posterior
    are its mean, and no seed convention of the studio enters the reference."""
    import diffusers
    from diffusers import StableDiffusionImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as module

    def sharp(vae):  # the posterior's log-variance channels → −100 (clamped to −30: σ ≈ 3e-7)
        c = vae.config.latent_channels
        with torch.no_grad():
            vae.quant_conv.weight[c:] = 0
            vae.quant_conv.bias[c:] = -100.0

    local = load_text_to_image(tiny_sd_dir, device=CPU, dtype=torch.float32)  # not the shared module fixture
    sharp(local.vae)
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(tiny_sd_dir)
    sharp(pipe.vae)
    pipe.scheduler = getattr(diffusers, cls).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae.config.scaling_factor == 0.7
    picture = torch.full((2, 1, 32, 32), -1.0)  # the tiny model draws one channel
    picture[0, :, 8:24, 14:18] = 1.0  # a bar
    picture[1, :, 10:14, 6:26] = 0.5  # a dash
    noise = t2i_engine.initial_latents(local, [7, 8], 32, 32)
    monkeypatch.setattr(module, "randn_tensor", lambda shape, **kw: noise.clone().to(kw.get("dtype")))
    for strength in (0.5, 0.8):
        ours = t2i_engine.run(local, prompt="a one", seed=7, batch=2, steps=10, guidance=3.0, scheduler=name,
                          init_image=picture, strength=strength)
        theirs = pipe(["a one"] * 2, image=(picture + 1) / 2, strength=strength, num_inference_steps=10, guidance_scale=3.0,
                      output_type="pt").images
        assert ours.steps == int(10 * strength)
        gap = float(((ours.images + 1) / 2 - theirs).abs().max())
        assert gap < 1e-4, (strength, gap)


def test_a_variation_seed_slerps_the_starting_noise(sd):
    base = t2i_engine.initial_latents(sd, [11], 32, 32)
    other = t2i_engine.initial_latents(sd, [40], 32, 32)
    assert torch.allclose(t2i_engine.variation_latents(sd, [11], 40, 0.0, 32, 32), base, atol=1e-6)
    assert torch.allclose(t2i_engine.variation_latents(sd, [11], 40, 1.0, 32, 32), other, atol=1e-5)
    mid = t2i_engine.variation_latents(sd, [11], 40, 0.5, 32, 32)
    assert abs(mid.norm() - (base.norm() + other.norm()) / 2) < 0.05 * base.norm()  # on the shell, not shrunk
    r = t2i_engine.run(sd, prompt="a two", seed=11, steps=2, variation_seed=40, variation_strength=0.5)
    assert torch.allclose(r.x_T, mid) and r.settings["variation_seed"] == 40


def test_each_image_of_a_varied_batch_starts_from_the_noise_it_would_have_alone(sd):
    """A batch of 4: image i's z_T is slerp(z_T(seed_i), z_T(variation_seed + i), strength) of its own two noises,
    the formula (Shoemake 1985) written out in float64 numpy on that row alone, and the same as the image alone
    (its PNG recipe: batch 1, variation_seed + i)."""
    import numpy as np

    seeds, strength = [11, 12, 13, 14], 0.3
    batch = t2i_engine.variation_latents(sd, seeds, 40, strength, 32, 32)
    for i, s in enumerate(seeds):
        a = t2i_engine.initial_latents(sd, [s], 32, 32).double().numpy().ravel()
        b = t2i_engine.initial_latents(sd, [40 + i], 32, 32).double().numpy().ravel()
        omega = np.arccos(np.dot(a / np.linalg.norm(a), b / np.linalg.norm(b)))
        direction = (np.sin((1 - strength) * omega) * a / np.linalg.norm(a)
                     + np.sin(strength * omega) * b / np.linalg.norm(b)) / np.sin(omega)
        want = direction * (np.linalg.norm(a) + strength * (np.linalg.norm(b) - np.linalg.norm(a)))
        assert np.abs(batch[i].double().numpy().ravel() - want).max() < 1e-5, i
        alone = t2i_engine.variation_latents(sd, [s], 40 + i, strength, 32, 32)
        assert torch.allclose(batch[i], alone[0], atol=1e-6), i


def test_the_guidance_steps_grid_shares_one_starting_noise_and_counts_each_cells_evaluations(sd):
    g = t2i_engine.guidance_steps_grid(sd, seed=2, prompt="a three", guidances=(1.0, 3.0), steps_list=(2, 4))
    assert [(c["steps"], c["guidance"], c["nfe"]) for c in g["cells"]] == [(2, 1.0, 2), (2, 3.0, 4), (4, 1.0, 4),
                                                                          (4, 3.0, 8)]
    alone = t2i_engine.run(sd, prompt="a three", seed=2, steps=4, guidance=3.0)
    assert torch.allclose(g["cells"][3]["image"], alone.images[0], atol=1e-5)  # the cells start from the seed's z_T


def test_the_linear_preview_is_fitted_to_the_models_own_autoencoder(sd, monkeypatch):
    """An autoencoder whose latent is a known linear function of the picture's colour at each latent position:
    the fitted map inverts it exactly (least squares on the model's own encodings)."""
    a = torch.tensor([[0.5], [-1.0], [2.0], [0.25]])  # (C, c): colour → latent channels
    fake = type("Bundle", (), {"vae_scale_factor": 4, "image_channels": 1, "preview": {}})()

    def encode(bundle, pictures, generator=None):  # z = A · (4×4-averaged picture) + 0.1
        pooled = torch.nn.functional.avg_pool2d(pictures, 4)  # (N, 1, h, w)
        return torch.einsum("nchw,kc->nkhw", pooled, a) + 0.1

    from studio.diffusion.text_to_image import autoencoder

    monkeypatch.setattr(autoencoder, "encode", encode)
    w = t2i_engine.preview_map(fake)
    assert w.shape == (5, 1) and fake.preview["map"] is w
    pics = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    z = encode(fake, pics)
    assert torch.allclose(t2i_engine.linear_preview(z, w), torch.nn.functional.avg_pool2d(pics, 4), atol=1e-4)


def test_pipeline_folders_that_would_run_code_or_load_pickles_are_refused(tiny_sd_dir, tmp_path):
    remote = tmp_path / "remote"
    shutil.copytree(tiny_sd_dir, remote)
    index = json.loads((remote / "model_index.json").read_text())
    index["safety_checker"] = ["my_checker", "MySafetyChecker"]
    (remote / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(ModelLoadError, match=r"safety_checker is 'MySafetyChecker' from 'my_checker'.*never runs"):
        load_text_to_image(remote, device=CPU, dtype=torch.float32)
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_sd_dir, pickled)
    weights = pickled / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(UnsafeCheckpointError, match=r"unet/ holds only pickle weights.*studio.convert"):
        load_text_to_image(pickled, device=CPU, dtype=torch.float32)
    with pytest.raises(ModelLoadError, match="no model_index.json"):
        load_text_to_image(tmp_path, device=CPU, dtype=torch.float32)


def test_the_cards_sample_sheet_is_each_digit_in_each_prompt_from_the_rows_seed(sd, tmp_path):
    """report.sample_sheet (the picture on mnist-t2i's card): row d, column j is SHEET_PROMPTS[j] said of digit d
    ("an eight", not "a eight"), drawn from seed + d alone, tiled 2 px apart at twice the size."""
    import numpy as np
    from PIL import Image

    from studio.diffusion.text_to_image import report

    report.sample_sheet(sd, tmp_path / "sheet.png", seed=4, steps=2)
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("L"), dtype=np.float32) / 255
    cols, size = len(report.SHEET_PROMPTS), 2 * sd.default_size
    assert sheet.shape == (10 * (size + 4) + 4, cols * (size + 4) + 4)
    for d, j, prompt in ((8, 0, "an eight"), (3, 7, "a thick, slanted, wide three"), (0, 2, "a thick zero")):
        alone = t2i_engine.run(sd, prompt=prompt, seed=4 + d, batch=1, steps=2).images[0]
        cell = sheet[4 + d * (size + 4): 4 + d * (size + 4) + size, 4 + j * (size + 4): 4 + j * (size + 4) + size]
        expected = ((alone.mean(0) + 1) / 2).clamp(0, 1).numpy().repeat(2, 0).repeat(2, 1)
        assert np.abs(cell - expected).max() < 2 / 255 + 1e-6, (d, j, prompt)
