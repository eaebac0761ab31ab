"""Train the built-in class-conditional DCGAN on MNIST images 0..8999.

    python -m studio.gan.train --out checkpoints/mnist-dcgan

DCGAN as in the paper: transposed-conv generator with batch norm, ReLU and tanh; strided-conv discriminator
with LeakyReLU 0.2; the non-saturating BCE objective; Adam with lr 2e-4, β1 = 0.5. Two justified changes:
* one-sided label smoothing (real targets 0.9; Salimans et al. 2016, https://arxiv.org/abs/1606.03498) keeps
  the discriminator from becoming over-confident early;
* the shipped generator is an exponential moving average of the trained one (decay 0.999; Yazıcı et al.
  2019, https://arxiv.org/abs/1806.04498), which removes most of the step-to-step jitter of GAN training.
Snapshots of fixed latents at a few steps are saved with the checkpoint ("watch it learn").
"""

from __future__ import annotations

import copy
import json
import logging
import time

import torch
import torch.nn.functional as F

from studio.cards import command_line, machine_description, write_model_card
from studio import training
from studio.config import REPO_ROOT
from studio.data import load_mnist
from studio.ema import ema_update
from studio.gan.model import Discriminator, Generator
from studio.plots import image_grid, loss_curves

log = logging.getLogger("studio.gan.train")
KEY = "mnist-dcgan"
SNAPSHOT_FRACTIONS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)


def main(argv=None) -> None:
    p = training.command(__doc__, out=REPO_ROOT / "checkpoints" / KEY, epochs=20, batch_size=64, lr=2e-4, beta1=0.5,
                         z_dim=64, width=32, ema=0.999, real_label=0.9, device="auto")
    args = training.parse(p, argv)
    from studio.device import pick_device

    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # training script only
    gen = torch.Generator().manual_seed(args.seed)
    x, y = load_mnist("train", args.data)
    x = x * 2 - 1  # (9000, 1, 28, 28) in [-1, 1], the tanh range
    G = Generator(z_dim=args.z_dim, width=args.width).to(device)
    D = Discriminator(width=args.width).to(device)
    G_ema = copy.deepcopy(G).eval()
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    steps_per_epoch = len(x) // args.batch_size
    total = args.epochs * steps_per_epoch
    snap_steps = sorted({int(f * total) for f in SNAPSHOT_FRACTIONS})
    fixed_z = torch.randn(40, args.z_dim, generator=torch.Generator().manual_seed(1234))  # 4 rows x 10 digits
    fixed_y = torch.arange(10).repeat(4)
    out = args.out
    (out / "snapshots").mkdir(parents=True, exist_ok=True)
    history, snapshots = [], []
    step, start = 0, time.perf_counter()
    d_run = g_run = None

    def snapshot(at_step):
        with torch.no_grad():
            imgs = (G_ema(fixed_z.to(device), fixed_y.to(device)).cpu() + 1) / 2
        name = f"snapshots/step_{at_step:06d}.png"
        image_grid(imgs, 10, scale=2).save(out / name)
        snapshots.append({"step": at_step, "file": name, "epoch": round(at_step / steps_per_epoch, 2)})

    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(steps_per_epoch):
            if step in snap_steps:
                snapshot(step)
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            real, labels = x[idx].to(device), y[idx].to(device)
            b = len(idx)
            z = torch.randn(b, args.z_dim, generator=gen).to(device)
            fake_labels = torch.randint(10, (b,), generator=gen).to(device)
            fake = G(z, fake_labels)  # (B, 1, 28, 28)
            # 1. discriminator: real -> 0.9 (one-sided smoothing), fake -> 0
            d_real = D(real, labels)
            d_fake = D(fake.detach(), fake_labels)
            loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, args.real_label))
                      + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            # 2. generator, non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z)))
            d_gen = D(fake, fake_labels)
            loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            ema_update(G_ema, G, args.ema if step > 200 else 0.0)  # follow G exactly during the first steps
            d_run = loss_d.item() if d_run is None else 0.98 * d_run + 0.02 * loss_d.item()
            g_run = loss_g.item() if g_run is None else 0.98 * g_run + 0.02 * loss_g.item()
            step += 1
            if step % 50 == 0:
                history.append({"step": step, "loss_d": round(d_run, 4), "loss_g": round(g_run, 4),
                                "d_real": round(torch.sigmoid(d_real).mean().item(), 3),
                                "d_fake": round(torch.sigmoid(d_fake).mean().item(), 3)})
        log.info("epoch %d/%d  step %d  loss D %.3f  G %.3f  (%.1f min)", epoch + 1, args.epochs, step, d_run, g_run,
                 (time.perf_counter() - start) / 60)
    snapshot(step)
    wall = time.perf_counter() - start
    G_ema.eval().cpu().save_pretrained(out)
    (out / "training_log.json").write_text(json.dumps(history, indent=1))
    (out / "snapshots.json").write_text(json.dumps(snapshots, indent=1))
    fig = loss_curves(history, [("loss_d", "discriminator loss"), ("loss_g", "generator loss")],
                      title="DCGAN training losses (running means)")
    fig.savefig(out / "loss_curves.png", dpi=80)

    # Measured quality with the eval harness's own procedure.
    from studio.catalog import builtin_specs
    from studio.gan.evaluate import evaluate_checkpoint, samples
    from studio.registry import ModelRegistry, ModelSpec

    reg = ModelRegistry([*builtin_specs(REPO_ROOT / "checkpoints"),
                         ModelSpec(key="new-gan", family="gan", source=str(out), loader="mixin:studio.gan.model:Generator")],
                        device="cpu")
    figures = evaluate_checkpoint(reg, "new-gan", data_dir=args.data)
    trunc = {}
    from studio.eval.sample_quality import judge_figures

    for tau in (1.0, 1.5):
        imgs, labels = samples(reg.get("new-gan").model, truncation="resample", threshold=tau)
        trunc[tau] = judge_figures(reg.get("digit-judge").model, imgs, labels, args.data)
    imgs, _ = samples(reg.get("new-gan").model, n_per_class=8)
    image_grid(imgs.view(10, 8, 1, 28, 28).transpose(0, 1).reshape(80, 1, 28, 28), 10, scale=2).save(out / "samples.png")
    n_params = sum(p.numel() for p in G.parameters())
    body = f"""# mnist-dcgan

A class-conditional DCGAN trained on MNIST by this project: the GAN tab's built-in model. Give it a digit and
a seed; it draws a 28×28 digit.

## Measured quality
| figure | no truncation | resample τ = 1.5 | resample τ = 1.0 |
|---|---|---|---|
| judge accuracy (1,000 samples, 100 per digit, seeds 0..999) | **{figures['judge_accuracy']:.1%}** | {trunc[1.5]['judge_accuracy']:.1%} | {trunc[1.0]['judge_accuracy']:.1%} |
| FD ratio (judge features vs held-out digits; 1.0 = real data) | **{figures['fd_ratio']:.2f}** | {trunc[1.5]['fd_ratio']:.2f} | {trunc[1.0]['fd_ratio']:.2f} |

Re-measure: `python -m studio.eval gan --json`. Truncation raises fidelity (accuracy) and lowers diversity;
the FD ratio shows the cost in coverage.

![samples: each column one digit, 8 seeds](samples.png)

## Training
- Command: `{command_line()}`
- Data: MNIST images 0..8999 (the held-out 9000..9999 are never seen), scaled to [-1, 1].
- Generator: z ({args.z_dim}) + label embedding (16) → ConvT 7×7 → 14×14 → 28×28 (width {args.width}), batch norm,
  ReLU, tanh; {n_params:,} parameters. Discriminator: strided convolutions, LeakyReLU 0.2, label as a learned
  28×28 map (training only, not shipped).
- Objective: non-saturating BCE; one-sided label smoothing (real = {args.real_label}).
- Optimiser: Adam lr {args.lr:g}, β1 = {args.beta1}, batch {args.batch_size}, {args.epochs} epochs = {total:,} steps,
  seed {args.seed}. Shipped weights: EMA of the generator (decay {args.ema}).
- Wall time: {wall / 60:.1f} min on {machine_description(device)}.

![losses](loss_curves.png)

Snapshots of 40 fixed latents at steps {', '.join(str(s['step']) for s in snapshots)} are in `snapshots/`
(`snapshots.json` lists them); the GAN tab plays them as "watch it learn".
"""
    write_model_card(out, key=KEY, family="gan", loader="mixin:studio.gan.model:Generator", tags=["dcgan", "mnist"],
                     description=f"class-conditional DCGAN on MNIST (judge accuracy {figures['judge_accuracy']:.0%})",
                     body=body)
    log.info("figures %s; truncation %s; wrote %s", figures, {k: (v["judge_accuracy"], v["fd_ratio"]) for k, v in trunc.items()}, out)


if __name__ == "__main__":
    main()
