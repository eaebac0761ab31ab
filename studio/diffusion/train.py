"""Train the built-in class-conditional DDPM on MNIST images 0..8999, padded to 32×32.

    python -m studio.diffusion.train --out checkpoints/mnist-ddpm
    python -m studio.diffusion.train --report --out checkpoints/mnist-ddpm   # figures + model card only

The model is a diffusers ``UNet2DModel`` (three resolutions 32/16/8, self-attention at 8×8) with 11 class
embeddings: digits 0..9 and a "no class" label 10. Training follows Ho et al. 2020
(https://arxiv.org/abs/2006.11239), with classifier-free guidance from Ho & Salimans 2022
(https://arxiv.org/abs/2207.12598):

1. x₀ ~ data, scaled to [-1, 1] and padded with the background value to 32×32;
   y = the digit, replaced by "no class" for ``--p-uncond`` (10%) of the examples.
2. t ~ Uniform{0..T-1}, ε ~ N(0, I), x_t = √ᾱ_t x₀ + √(1-ᾱ_t) ε  (diffusers' ``DDPMScheduler.add_noise``,
   linear β from 1e-4 to 0.02 over T = 1000 steps: the DDPM paper's schedule).
3. Loss = ‖ε − ε_θ(x_t, t, y)‖²; AdamW; the shipped weights are an exponential moving average (EMA).

Weights are written every ``--save-every`` steps (EMA, diffusers format: ``unet/`` + ``scheduler/``), so a run
cut short by ``--max-minutes`` still leaves a usable model; the card records what actually happened.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from studio.cards import command_line, machine_description, write_model_card
from studio import training
from studio.config import REPO_ROOT
from studio.diffusion.digits import mnist_32
from studio.ema import ema_update

log = logging.getLogger("studio.diffusion.train")
KEY = "mnist-ddpm"
NUM_CLASSES = 10  # label 10 = "no class" (classifier-free guidance)


def build_unet(width: int = 32):
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=32, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(width, 2 * width, 2 * width),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        num_class_embeds=NUM_CLASSES + 1, norm_num_groups=8, attention_head_dim=32)


def build_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear",
                         prediction_type="epsilon", clip_sample=True, clip_sample_range=1.0)


def save(unet, scheduler, out: Path) -> None:
    unet.save_pretrained(out / "unet", safe_serialization=True)
    scheduler.save_pretrained(out / "scheduler")


def train(args) -> None:
    from studio.device import pick_device

    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # training script only: initial weights
    gen = torch.Generator().manual_seed(args.seed)
    x, y, _ = mnist_32("train", args.data)
    if args.init_from:  # a later phase: continue from a saved model (its EMA weights)
        from diffusers import UNet2DModel

        unet = UNet2DModel.from_pretrained(args.init_from, subfolder="unet", use_safetensors=True)
        unet = unet.to(device).to(memory_format=torch.channels_last)
    else:
        unet = build_unet(args.width).to(device).to(memory_format=torch.channels_last)  # channels_last: ~1.4x on CPU
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    ema_warmup = not args.init_from  # a continued run starts its EMA at the loaded (already averaged) weights
    scheduler = build_scheduler()
    alphas_cumprod = scheduler.alphas_cumprod.to(device)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    def lr_factor(s: int) -> float:  # linear warm-up, then constant or a cosine decay to 0 at --steps
        if s < args.warmup:
            return (s + 1) / args.warmup
        if args.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (s - args.warmup) / max(1, args.steps - args.warmup))))
        return 1.0

    warm = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    phases_file = out / "phases.json"
    phases = json.loads(phases_file.read_text()) if args.init_from and phases_file.is_file() else []
    if args.init_from and not phases and (Path(args.init_from) / "training.json").is_file():
        phases = [json.loads((Path(args.init_from) / "training.json").read_text())]  # the phase it continues
    history, run_loss, start, step = [], None, time.perf_counter(), 0
    stopped_by = "steps"
    while step < args.steps:
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x) - args.batch_size + 1, args.batch_size):
            if step >= args.steps:
                break
            if args.max_minutes and (time.perf_counter() - start) / 60 > args.max_minutes:
                stopped_by = "time"
                break
            idx = order[i:i + args.batch_size]
            x0 = x[idx].to(device)
            labels = y[idx].clone()
            drop = torch.rand(len(idx), generator=gen) < args.p_uncond
            labels[drop] = NUM_CLASSES  # the "no class" label
            t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),), generator=gen)
            eps = torch.randn(x0.shape, generator=gen)
            # x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
            ab = alphas_cumprod[t.to(device)].view(-1, 1, 1, 1)
            xt = (ab.sqrt() * x0 + (1 - ab).sqrt() * eps.to(device)).contiguous(memory_format=torch.channels_last)
            pred = unet(xt, t.to(device), class_labels=labels.to(device)).sample
            loss = F.mse_loss(pred, eps.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            warm.step()
            # EMA with a warm-up (decay grows from 0 towards args.ema), so early weights are not frozen in
            ema_update(ema, unet, min(args.ema, (1 + step) / (10 + step)) if ema_warmup else args.ema)
            run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
            step += 1
            if step % 25 == 0:
                history.append({"step": step, "loss": round(run_loss, 5),
                                "minutes": round((time.perf_counter() - start) / 60, 2)})
            if step % 100 == 0:
                log.info("step %d/%d  loss %.4f  (%.1f min)", step, args.steps, run_loss,
                         (time.perf_counter() - start) / 60)
            if step % args.save_every == 0:
                save(copy.deepcopy(ema).cpu().to(memory_format=torch.contiguous_format), scheduler, out)
                _write_meta(out, args, history, step, time.perf_counter() - start, device, "running")
        if stopped_by == "time":
            break
    save(copy.deepcopy(ema).cpu().to(memory_format=torch.contiguous_format), scheduler, out)
    meta = _write_meta(out, args, history, step, time.perf_counter() - start, device, stopped_by)
    phases_file.write_text(json.dumps([*phases, meta], indent=1))
    log.info("done: %d steps in %.1f min (%s); weights in %s", step, (time.perf_counter() - start) / 60,
             stopped_by, out)


def _write_meta(out: Path, args, history, step, wall, device, stopped_by) -> None:
    (out / "training_log.json").write_text(json.dumps(history, indent=1))
    meta = {"command": command_line(), "steps_done": step, "steps_asked": args.steps, "stopped_by": stopped_by,
            "wall_seconds": round(wall, 1), "machine": machine_description(device), "batch_size": args.batch_size,
            "lr": args.lr, "warmup": args.warmup, "ema": args.ema, "p_uncond": args.p_uncond, "width": args.width,
            "seed": args.seed, "examples_seen": step * args.batch_size, "schedule": args.schedule,
            "init_from": str(args.init_from) if args.init_from else None}
    (out / "training.json").write_text(json.dumps(meta, indent=1))
    return meta


def report(args) -> None:
    """Measure the saved model with the eval harness at several guidance scales and step counts; write the card."""
    from studio.catalog import builtin_specs
    from studio.diffusion import evaluate as ev
    from studio.plots import image_grid, loss_curves
    from studio.registry import ModelRegistry, ModelSpec

    out = args.out
    meta = json.loads((out / "training.json").read_text())
    history = json.loads((out / "training_log.json").read_text())
    reg = ModelRegistry([*builtin_specs(REPO_ROOT / "checkpoints"),
                         ModelSpec(key="new-ddpm", family="diffusion", source=str(out), loader="diffusers-unet")],
                        device="cpu")
    start = time.perf_counter()
    figures = ev.evaluate_checkpoint(reg, "new-ddpm", data_dir=args.data, table=True)
    eval_seconds = time.perf_counter() - start
    rows = figures.pop("table")
    d = ev.DEFAULTS
    imgs = ev.samples(reg.get("new-ddpm"), n_per_class=8, scheduler=ev.DEFAULTS["scheduler"],
                      steps=ev.DEFAULTS["steps"], guidance=ev.DEFAULTS["guidance"])[0]
    image_grid((imgs.view(10, 8, 1, 32, 32).transpose(0, 1).reshape(80, 1, 32, 32) + 1) / 2, 10,
               scale=2).save(out / "samples.png")
    phases = json.loads((out / "phases.json").read_text()) if (out / "phases.json").is_file() else [meta]
    earlier = out / "training_log_phase1.json"
    if len(phases) > 1 and earlier.is_file():  # draw phase 1, then phase 2 after it
        first = json.loads(earlier.read_text())
        offset = phases[0]["steps_done"]
        history = first + [dict(r, step=r["step"] + offset) for r in history]
    fig = loss_curves(history, [("loss", "ε-prediction MSE (running mean)")], title="DDPM training loss")
    fig.savefig(out / "loss_curves.png", dpi=80)
    unet = reg.get("new-ddpm").unet
    n_params = sum(p.numel() for p in unet.parameters())
    table = ev.markdown_table(rows)
    stopped = ("" if meta["stopped_by"] == "steps" else
               f" The run was cut short by `--max-minutes` after {meta['steps_done']:,} of {meta['steps_asked']:,} steps; "
               "the shipped weights are the EMA at that point.")
    phase_lines = "\n".join(
        f"  - Phase {i + 1}: `{ph['command']}`: {ph['steps_done']:,} steps, lr {ph['lr']:g} ({ph['warmup']} warm-up steps, then "
        f"{ph.get('schedule', 'constant')}), seed {ph['seed']}, {ph['wall_seconds'] / 60:.1f} min"
        + (f"; continues from phase {i}'s weights (its output folder copied to `{ph['init_from']}`)" if ph.get("init_from") else "")
        + "." for i, ph in enumerate(phases))
    total_steps = sum(ph["steps_done"] for ph in phases)
    total_examples = sum(ph["examples_seen"] for ph in phases)
    total_wall = sum(ph["wall_seconds"] for ph in phases)
    body = f"""# mnist-ddpm

A class-conditional DDPM trained on MNIST by this project: the Diffusion tab's built-in model. A diffusers
`UNet2DModel` predicts the noise ε in a 32×32 image, given the step t and a digit (or "no class", label 10,
for classifier-free guidance).

## Measured quality
Default setting ({d['scheduler']}, {d['steps']} steps, guidance w = {d['guidance']:g}, 1,000 samples = 100 per digit,
seeds 0..999): **judge accuracy {figures['judge_accuracy']:.1%}**, **FD ratio {figures['fd_ratio']:.2f}** (judge features
vs the held-out digits; 1.0 = as close as real training digits; the GAN's is 0.95). Re-measure:
`python -m studio.eval diffusion --json`.

{table}

Guidance w: ε̂ = ε̂(x_t, ∅) + w·(ε̂(x_t, y) − ε̂(x_t, ∅)); w = 1 is the plain conditional model, w = 0 unconditional.
Higher w trades diversity (FD) for fidelity (accuracy). Every row uses the same 1,000 seeds and the same judge, so
the rows compare; `eval.json` holds the same table (`table`). Re-measure the table (about 20 minutes on 2 CPU
cores): `python -m studio.eval diffusion --table`.

![samples: each column one digit, 8 seeds](samples.png)

## Training
- Data: MNIST images 0..8999 (the held-out 9000..9999 are never seen), scaled to [-1, 1], padded to 32×32.
- Model: UNet2DModel, widths {meta['width']}/{2 * meta['width']}/{2 * meta['width']} at 32/16/8 px, one ResNet block per
  level, self-attention at 8×8, 11 class embeddings; {n_params:,} parameters.
- Noise schedule: DDPM linear β 1e-4 → 0.02, T = 1000, ε-prediction (`scheduler/scheduler_config.json`).
- Classifier-free guidance: label dropped to "no class" for {meta['p_uncond']:.0%} of training examples.
- Optimiser: AdamW, gradient clipping 1.0, batch {meta['batch_size']}; shipped weights: EMA (decay {meta['ema']}).{stopped}
- Commands, in order:
{phase_lines}
- Wall time: {total_wall / 60:.1f} min in all, for {total_steps:,} steps = {total_examples:,} examples
  ({total_examples / 9000:.0f} epochs), on {meta['machine']}. `phases.json` records every phase.

![loss](loss_curves.png)
"""
    write_model_card(out, key=KEY, family="diffusion", loader="diffusers-unet", tags=["ddpm", "mnist", "diffusers"],
                     description=(f"class-conditional DDPM on MNIST (judge accuracy {figures['judge_accuracy']:.0%} "
                                  f"at {d['steps']} {d['scheduler']} steps)"), body=body)
    entry = {"family": "diffusion", **figures, "device": "cpu", "eval_seconds": round(eval_seconds, 1),
             "table": rows}
    (out / "eval.json").write_text(json.dumps(entry, indent=2) + "\n")
    log.info("default figures %s; wrote %s", figures, out / "README.md")


def main(argv=None) -> None:
    p = training.command(__doc__, out=REPO_ROOT / "checkpoints" / KEY, steps=2400, batch_size=128, lr=1e-3,
                         warmup=100, ema=0.999, p_uncond=0.1, width=32, save_every=200)
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant",
                   help="learning rate after warm-up: constant, or a cosine decay to 0 at --steps")
    p.add_argument("--init-from", type=Path, default=None,
                   help="continue from a saved model folder (unet/ + scheduler/), e.g. a copy of an earlier phase")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop after this long (0 = no limit)")
    p.add_argument("--device", default="auto")
    training.train_or_report(p, argv, train, report)


if __name__ == "__main__":
    main()
