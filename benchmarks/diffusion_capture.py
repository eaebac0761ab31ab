"""What keeping every step costs: the studio's diffusion loop vs diffusers' own pipeline loop.

    python benchmarks/diffusion_capture.py [--steps 20] [--batch 4] [--repeats 5] [--device cuda]

1. ``diffusion_capture_overhead``: the same UNet architecture as the built-in model (without class labels, which
   ``DDPMPipeline`` does not pass), the same scheduler (DPM-Solver++ 2M from the model's config) and steps, run
   (a) by ``diffusers.DDPMPipeline`` and (b) by ``studio.diffusion.engine.run``, which also keeps x_t, x̂₀ and ε̂
   of every step. Ratio (b)/(a), median of interleaved repeats. Goal: at most 1.10.
2. ``diffusion_capture_overhead_cfg``: the built-in class-conditional model with guidance (2 predictions per
   step), the studio loop vs the same loop as diffusers pipelines write it (scale_model_input, one batched UNet
   call for both halves, scheduler.step), with nothing kept.
3. ``diffusion_first_preview_s``: from asking for a run (model already loaded) to the first step's frame, and
   ``diffusion_first_preview_cold_s`` including loading the model from disk. Goal: under 1 s.
4. ``t2i_capture_overhead``: the built-in text-to-image model (``checkpoints/mnist-t2i``, or ``--t2i FOLDER``), the
   studio's latent loop (``studio.diffusion.text_to_image.engine.run``: keeps z_t, ẑ₀, ε̂ of every step, the conditional and
   unconditional predictions; a step's ẑ₀ is pictured through the decoder when it is shown, not by the loop) over diffusers'
   ``StableDiffusionPipeline`` on the same components, prompt, starting latents, scheduler, steps and batch,
   guidance 4. Goal: at most 1.10. ``t2i_first_preview_s``: from asking to the first step's ẑ₀ pictured (the
   model loaded); goal under 1 s.

Runs on ``STUDIO_DEVICE`` (or ``--device``) in the dtype the studio would use there (float16 on a GPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import add_device_argument, announce, resolve, synchronize, timed  # noqa: E402
from studio.config import REPO_ROOT  # noqa: E402
from studio.device import pick_dtype  # noqa: E402
from studio.diffusion import engine  # noqa: E402
from studio.diffusion.loader import DiffusionBundle, load_unet  # noqa: E402

CKPT = REPO_ROOT / "checkpoints" / "mnist-ddpm"
T2I = REPO_ROOT / "checkpoints" / "mnist-t2i"


def t2i_figures(folder, device, steps: int, batch: int, repeats: int) -> tuple[float, float, float, float]:
    """(pipeline ms, studio ms, ratio, first preview s) on a Stable-Diffusion-format folder."""
    from diffusers import StableDiffusionPipeline

    from studio.diffusion.text_to_image import engine as t2i_engine
    from studio.diffusion.loader import load_text_to_image

    dtype = pick_dtype("t2i", device)
    bundle = load_text_to_image(Path(folder), device=device, dtype=dtype)
    name, w, prompt = "DPM-Solver++ 2M", 4.0, "a thick, slanted seven"
    pipe = StableDiffusionPipeline.from_pretrained(folder, torch_dtype=dtype).to(device)
    pipe.set_progress_bar_config(disable=True)
    size = bundle.default_size
    noise = t2i_engine.initial_latents(bundle, list(range(batch)), size, size)

    def run_pipeline():
        pipe.scheduler = engine.make_scheduler(bundle, name)  # fresh state, as the studio does
        with torch.inference_mode():
            pipe(prompt, num_inference_steps=steps, guidance_scale=w, latents=noise.to(device, dtype),
                 num_images_per_prompt=batch, output_type="pt")

    def run_studio():
        t2i_engine.run(bundle, prompt=prompt, seed=0, batch=batch, scheduler=name, steps=steps, guidance=w, latents=noise)

    for fn in (run_pipeline, run_studio):
        fn()
    t_pipe, t_studio = [], []
    for _ in range(repeats):
        t_pipe.append(timed(run_pipeline, device))
        t_studio.append(timed(run_studio, device))

    def first_preview():
        start = time.perf_counter()
        it = t2i_engine.iterate(bundle, prompt=prompt, seed=0, batch=batch, scheduler=name, steps=steps, guidance=w)
        _, _, frame = next(it)
        t2i_engine.frame_picture(bundle, frame)
        it.close()
        return time.perf_counter() - start

    first = statistics.median([first_preview() for _ in range(3)])
    med = statistics.median
    return med(t_pipe) * 1000, med(t_studio) * 1000, med(t_studio) / med(t_pipe), first


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--t2i", type=Path, default=T2I, help="a Stable-Diffusion-format folder (default: the built-in)")
    add_device_argument(p)
    args = p.parse_args()
    from diffusers import DDPMPipeline, UNet2DModel

    device = resolve(args)
    dtype = pick_dtype("diffusion", device)
    announce(device)
    start = time.perf_counter()
    bundle = load_unet(CKPT, device=device, dtype=dtype)
    synchronize(device)
    cold_load = time.perf_counter() - start
    name = "DPM-Solver++ 2M"

    # 1. unconditional twin of the built-in UNet, through DDPMPipeline and through the studio loop
    config = {k: v for k, v in dict(bundle.unet.config).items() if not k.startswith("_")}
    config["num_class_embeds"] = None
    twin = UNet2DModel(**config).eval()
    twin.load_state_dict({k: v for k, v in bundle.unet.state_dict().items() if not k.startswith("class_embedding")})
    if (device.type, dtype) != ("cpu", torch.float32):  # (diffusers warns about any dtype cast, even a no-op)
        twin.to(device, dtype)
    twin_bundle = DiffusionBundle(unet=twin, scheduler_config=bundle.scheduler_config, num_classes=0,
                                  sample_size=bundle.sample_size, in_channels=bundle.in_channels)
    pipe = DDPMPipeline(unet=twin, scheduler=engine.make_scheduler(bundle, name))
    pipe.set_progress_bar_config(disable=True)

    def run_pipeline():
        pipe.scheduler = engine.make_scheduler(bundle, name)  # fresh state, as the studio does
        with torch.inference_mode():
            pipe(batch_size=args.batch, generator=torch.Generator().manual_seed(0), num_inference_steps=args.steps,
                 output_type="np")

    def run_studio_uncond():
        engine.run(twin_bundle, seed=0, scheduler=name, steps=args.steps, guidance=1.0, digit="none", batch=args.batch)

    # 2. conditional with guidance: the studio loop vs a bare pipeline-style loop
    w = 2.0
    y = torch.tensor([3] * args.batch, device=device)

    def run_bare_cfg():
        sched = engine.make_scheduler(bundle, name)
        sched.set_timesteps(args.steps)
        x = torch.randn(args.batch, 1, 32, 32, generator=torch.Generator().manual_seed(0)).to(device, dtype)
        x = x * sched.init_noise_sigma
        null = torch.full_like(y, bundle.num_classes)
        with torch.inference_mode():
            for t in sched.timesteps:
                x_in = sched.scale_model_input(x, t)
                e_c, e_u = bundle.unet(torch.cat([x_in, x_in]), t, class_labels=torch.cat([y, null])).sample.chunk(2)
                x = sched.step(e_u + w * (e_c - e_u), t, x).prev_sample

    def run_studio_cfg():
        engine.run(bundle, seed=0, scheduler=name, steps=args.steps, guidance=w, digit="3", batch=args.batch)

    for fn in (run_pipeline, run_studio_uncond, run_bare_cfg, run_studio_cfg):  # warm up
        fn()
    t_pipe, t_studio, t_bare, t_cfg = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both sides
        t_pipe.append(timed(run_pipeline, device))
        t_studio.append(timed(run_studio_uncond, device))
        t_bare.append(timed(run_bare_cfg, device))
        t_cfg.append(timed(run_studio_cfg, device))
    med = statistics.median

    # 3. time to the first preview
    def first_preview(b):  # the first frame comes back on the CPU, so the device has finished by then
        synchronize(device)
        start = time.perf_counter()
        it = engine.iterate(b, seed=0, scheduler=name, steps=args.steps, guidance=w, digit="any", batch=args.batch)
        next(it)
        it.close()
        return time.perf_counter() - start

    warm_first = med([first_preview(bundle) for _ in range(3)])
    start = time.perf_counter()
    cold_bundle = load_unet(CKPT, device=device, dtype=dtype)
    cold_first = time.perf_counter() - start + first_preview(cold_bundle)

    print(f"# {args.steps} steps of {name}, batch {args.batch}, {str(dtype).removeprefix('torch.')}, "
          f"{torch.get_num_threads()} torch threads; medians of {args.repeats}")
    print(f"DDPMPipeline            {med(t_pipe) * 1000:8.1f} ms")
    print(f"studio loop (uncond.)   {med(t_studio) * 1000:8.1f} ms  (keeps {args.steps} x_t, x̂₀, ε̂)")
    print(f"bare CFG loop           {med(t_bare) * 1000:8.1f} ms")
    print(f"studio loop (CFG, w={w:g}) {med(t_cfg) * 1000:8.1f} ms")
    print(f"model load from disk    {cold_load * 1000:8.1f} ms")
    t2i = None
    if (args.t2i / "model_index.json").is_file():
        t2i = t2i_figures(args.t2i, device, args.steps, args.batch, args.repeats)
        pipe_ms, studio_ms, _, _ = t2i
        print(f"StableDiffusionPipeline {pipe_ms:8.1f} ms  ({args.t2i.name}, guidance 4)")
        print(f"studio latent loop      {studio_ms:8.1f} ms  (keeps every z_t, ẑ₀, ε̂, both predictions; ẑ₀ pictured when shown)")
    else:
        print(f"# no text-to-image model at {args.t2i}: t2i figures skipped")
    print(f"RESULT diffusion_capture_overhead {med(t_studio) / med(t_pipe):.3f}")
    print(f"RESULT diffusion_capture_overhead_cfg {med(t_cfg) / med(t_bare):.3f}")
    print(f"RESULT diffusion_first_preview_s {warm_first:.3f}")
    print(f"RESULT diffusion_first_preview_cold_s {cold_first:.3f}")
    if t2i is not None:
        print(f"RESULT t2i_capture_overhead {t2i[2]:.3f}")
        print(f"RESULT t2i_first_preview_s {t2i[3]:.3f}")

if __name__ == "__main__":
    main()
