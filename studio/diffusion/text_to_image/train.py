"""Train the built-in text-to-image model, ``mnist-t2i``: latent diffusion the Stable Diffusion way, on MNIST.

    python -m studio.diffusion.text_to_image.train --out checkpoints/mnist-t2i            # train (both stages)
    python -m studio.diffusion.text_to_image.train --report --out checkpoints/mnist-t2i   # measure, write eval.json + card

It writes a diffusers ``StableDiffusionPipeline`` folder (``model_index.json``; ``tokenizer/``, ``text_encoder/``,
``unet/``, ``vae/``, ``scheduler/``; safetensors only), so the studio loads it through the same path as a Stable
Diffusion from the Hub and ``StableDiffusionPipeline.from_pretrained(folder)`` loads it unchanged. The parts, each
Stable Diffusion's own class at a small size:

* **tokenizer** — a ``CLIPTokenizer`` (byte-level BPE with CLIP's normaliser and pre-tokeniser), its merges
  learnt from every caption the grammar makes (studio/diffusion/text_to_image/captions.py), so each caption word is one token
  and any other text falls back to bytes;
* **autoencoder** — ``AutoencoderKL``: a 32×32 grey digit ↔ a 4×8×8 latent (8× fewer numbers, as SD's
  3×512×512 ↔ 4×64×64 is 48×), trained first (stage 1) on reconstruction with a small KL term; its
  ``scaling_factor`` is 1 / the standard deviation of the training latents, as Stable Diffusion's 0.18215 is;
* **text encoder** — ``CLIPTextModel`` (2 layers, width 128, causal attention, as CLIP's), trained from scratch
  together with the UNet (stage 2) on the diffusion loss alone (Imagen's and SD's text encoders were trained
  elsewhere; here the captions are the only text it ever needs);
* **UNet** — ``UNet2DConditionModel`` on 8×8 latents, cross-attention to the text encoder's hidden states at every
  level (stage 2);
* **scheduler** — Stable Diffusion's noise schedule (``scaled_linear`` β 0.00085 → 0.012, T = 1000, ε-prediction).

Stage 2 follows Rombach et al. 2022 (https://arxiv.org/abs/2112.10752): z = scaling_factor · E(x) (a sample of the
encoder's posterior), z_t = √ᾱ_t z + √(1 − ᾱ_t) ε, loss ‖ε − ε_θ(z_t, t, τ(caption))‖². Captions are dropped to ""
for ``--p-uncond`` of the examples, so the empty prompt is the unconditional model classifier-free guidance needs
(Ho & Salimans 2022). The shipped UNet and text encoder are exponential moving averages.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from studio.cards import command_line, machine_description
from studio import training
from studio.config import REPO_ROOT
from studio.diffusion.digits import mnist_32
from studio.diffusion.text_to_image import captions as cap
from studio.ema import ema_update

log = logging.getLogger("studio.diffusion.text_to_image.train")
KEY = "mnist-t2i"
MAX_TOKENS = 16  # the text encoder's context: "a thick, slanted, wide seven" is 9 tokens with its start and end
CLIP_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


# --- the parts ----------------------------------------------------------------------------------------------------

def build_tokenizer(max_length: int = MAX_TOKENS):
    """A ``CLIPTokenizer`` whose merges are learnt from the caption grammar (every caption it makes, each word
    one token), over CLIP's 256 byte symbols and their end-of-word forms, so any text still encodes."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import CLIPTokenizer

    trainer_tok = Tokenizer(BPE(continuing_subword_prefix="", end_of_word_suffix="</w>"))
    trainer_tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                                   normalizers.Lowercase()])
    trainer_tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_SPLIT), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=1, initial_alphabet=alphabet,
                                  end_of_word_suffix="</w>", show_progress=False)
    trainer_tok.train_from_iterator(cap.vocabulary_corpus(), trainer)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" "))
              for m in json.loads(trainer_tok.to_str())["model"]["merges"]]
    # CLIP's order: the byte symbols, the same with </w>, each merge's result, then the two special tokens
    tokens = alphabet + [c + "</w>" for c in alphabet]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def build_text_encoder(tokenizer, *, width: int = 128, layers: int = 2, heads: int = 4):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width,
                            num_hidden_layers=layers, num_attention_heads=heads,
                            max_position_embeddings=tokenizer.model_max_length, hidden_act="quick_gelu",
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, projection_dim=width)
    return CLIPTextModel(config)


def build_vae(width: int = 32):
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=1, out_channels=1, latent_channels=4, sample_size=32, layers_per_block=1,
                         block_out_channels=(width, 2 * width, 2 * width), norm_num_groups=16,
                         down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3)


def build_unet(cross_attention_dim: int, width: int = 64):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(width, 2 * width),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=cross_attention_dim, attention_head_dim=8,
        norm_num_groups=16)


def build_scheduler():
    """Stable Diffusion 1.x's scheduler config (DDIM, scaled-linear β 0.00085 → 0.012, T = 1000)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                         clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


# --- stage 1: the autoencoder ---------------------------------------------------------------------------------------

def train_vae(x: torch.Tensor, args, gen: torch.Generator):
    """AutoencoderKL on (N, 1, 32, 32) digits: L1 + L2 reconstruction and ``--kl`` × KL(q(z|x) ‖ N(0, I)) per image."""
    vae = build_vae(args.vae_width)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    start, history, run_loss = time.perf_counter(), [], None
    for step in range(args.vae_steps):
        idx = torch.randint(len(x), (args.vae_batch_size,), generator=gen)
        batch = x[idx]
        post = vae.encode(batch).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)  # the reparameterised sample
        rec = vae.decode(z).sample
        rec_loss = F.mse_loss(rec, batch) + F.l1_loss(rec, batch)
        kl = post.kl().mean()  # per image, summed over the latent's numbers
        loss = rec_loss + args.kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for group in opt.param_groups:  # cosine decay to 10%
            group["lr"] = args.vae_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step + 1) / args.vae_steps)))
        run_loss = rec_loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * rec_loss.item()
        if (step + 1) % 25 == 0:
            history.append({"step": step + 1, "reconstruction": round(run_loss, 5), "kl": round(kl.item(), 2),
                            "minutes": round((time.perf_counter() - start) / 60, 2)})
        if (step + 1) % 200 == 0:
            log.info("vae step %d/%d  reconstruction %.4f  kl %.1f  (%.1f min)", step + 1, args.vae_steps, run_loss,
                     kl.item(), (time.perf_counter() - start) / 60)
    return vae.eval(), history, time.perf_counter() - start


@torch.no_grad()
def posterior(vae, x: torch.Tensor, chunk: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder's mean and standard deviation for every image: (N, 4, 8, 8) each."""
    means, stds = [], []
    for i in range(0, len(x), chunk):
        post = vae.encode(x[i:i + chunk]).latent_dist
        means.append(post.mean)
        stds.append(post.std)
    return torch.cat(means), torch.cat(stds)


# --- stage 2: the text encoder and the UNet -------------------------------------------------------------------------

def train_diffusion(mean, std, scaling, thirds, labels, tokenizer, args, gen: torch.Generator, out: Path, save):
    text_encoder = build_text_encoder(tokenizer, width=args.text_width, layers=args.text_layers)
    unet = build_unet(args.text_width, args.unet_width)
    scheduler = build_scheduler()
    ema_text, ema_unet = (copy.deepcopy(m).eval().requires_grad_(False) for m in (text_encoder, unet))
    params = list(text_encoder.parameters()) + list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    alphas_cumprod = scheduler.alphas_cumprod
    rng = random.Random(args.seed)
    start, history, run_loss = time.perf_counter(), [], None
    stopped_by, step = "steps", 0
    T = scheduler.config.num_train_timesteps
    while step < args.steps:
        if args.max_minutes and (time.perf_counter() - start) / 60 > args.max_minutes:
            stopped_by = "time"
            break
        idx = torch.randint(len(mean), (args.batch_size,), generator=gen)
        # 1. z = scaling · (μ + σ·n): a fresh sample of each digit's posterior
        z = scaling * (mean[idx] + std[idx] * torch.randn(mean[idx].shape, generator=gen))  # (B, 4, 8, 8)
        # 2. captions, made afresh (which attributes are named changes), "" for p_uncond of them
        texts = ["" if rng.random() < args.p_uncond else cap.random_caption(int(labels[i]), thirds[i].tolist(), rng)
                 for i in idx.tolist()]
        ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids  # (B, L)
        # 3. z_t = √ᾱ_t z + √(1 − ᾱ_t) ε
        t = torch.randint(0, T, (len(idx),), generator=gen)
        eps = torch.randn(z.shape, generator=gen)
        ab = alphas_cumprod[t].view(-1, 1, 1, 1)
        zt = ab.sqrt() * z + (1 - ab).sqrt() * eps
        # 4. ε̂ = ε_θ(z_t, t, τ(caption)); loss = ‖ε − ε̂‖²
        context = text_encoder(ids).last_hidden_state  # (B, L, D)
        pred = unet(zt, t, encoder_hidden_states=context).sample
        loss = F.mse_loss(pred, eps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        warm = min(1.0, (step + 1) / args.warmup)
        decay = 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps)))  # cosine to 0 at --steps
        for group in opt.param_groups:
            group["lr"] = args.lr * warm * (args.min_lr_frac + (1 - args.min_lr_frac) * decay)
        d = min(args.ema, (1 + step) / (10 + step))
        ema_update(ema_text, text_encoder, d)
        ema_update(ema_unet, unet, d)
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        step += 1
        if step % 25 == 0:
            history.append({"step": step, "loss": round(run_loss, 5),
                            "minutes": round((time.perf_counter() - start) / 60, 2)})
        if step % 200 == 0:
            log.info("unet step %d/%d  loss %.4f  (%.1f min)", step, args.steps, run_loss,
                     (time.perf_counter() - start) / 60)
        if step % args.save_every == 0:
            save(ema_text, ema_unet, scheduler)
            (out / "training_log_unet.json").write_text(json.dumps(history, indent=1))
    save(ema_text, ema_unet, scheduler)
    return history, time.perf_counter() - start, step, stopped_by


def train(args) -> None:
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(args.seed)  # training script only: initial weights
    torch.set_num_threads(max(1, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(args.seed)
    x, y, raw = mnist_32("train", args.data)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    bins = cap.fit_bins(raw, y)
    (out / "caption_bins.json").write_text(bins.to_json() + "\n")
    thirds = cap.thirds(bins, raw, y)
    tokenizer = build_tokenizer()
    log.info("tokenizer: %d tokens; 'a thick, slanted seven' -> %s", len(tokenizer),
             tokenizer.tokenize("a thick, slanted seven"))
    vae, vae_history, vae_wall = train_vae(x, args, gen)
    mean, std = posterior(vae, x)
    scaling = float(1.0 / (mean + std * torch.randn(mean.shape, generator=gen)).std())
    vae.register_to_config(scaling_factor=round(scaling, 5))
    log.info("vae done in %.1f min; latent scaling factor %.4f", vae_wall / 60, scaling)
    (out / "training_log_vae.json").write_text(json.dumps(vae_history, indent=1))

    def save(text_encoder, unet, scheduler):
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=copy.deepcopy(text_encoder), tokenizer=tokenizer,
                                       unet=copy.deepcopy(unet), scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.save_pretrained(out, safe_serialization=True)

    history, wall, steps_done, stopped_by = train_diffusion(mean, std, vae.config.scaling_factor, thirds, y, tokenizer,
                                                            args, gen, out, save)
    meta = {"command": command_line(), "machine": machine_description("cpu"), "seed": args.seed,
            "vae": {"steps": args.vae_steps, "batch_size": args.vae_batch_size, "lr": args.vae_lr, "kl": args.kl,
                    "width": args.vae_width, "wall_seconds": round(vae_wall, 1),
                    "scaling_factor": vae.config.scaling_factor},
            "diffusion": {"steps_done": steps_done, "steps_asked": args.steps, "stopped_by": stopped_by,
                          "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup, "ema": args.ema,
                          "p_uncond": args.p_uncond, "unet_width": args.unet_width, "text_width": args.text_width,
                          "text_layers": args.text_layers, "wall_seconds": round(wall, 1)},
            "tokens": len(tokenizer)}
    (out / "training.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "training_log_unet.json").write_text(json.dumps(history, indent=1))
    log.info("done: %d UNet steps in %.1f min (%s); pipeline in %s", steps_done, wall / 60, stopped_by, out)


def main(argv=None) -> None:
    p = training.command(__doc__, out=REPO_ROOT / "checkpoints" / KEY, vae_steps=3000, vae_batch_size=64, vae_lr=1e-3,
                         vae_width=16, kl=(1e-6, "weight of the KL term (SD's autoencoder: 1e-6)"),
                         steps=(10000, "UNet and text encoder steps"), batch_size=64, lr=1e-3, min_lr_frac=0.05,
                         warmup=200, ema=0.999, p_uncond=0.1, unet_width=48, text_width=128, text_layers=2,
                         save_every=500)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop stage 2 after this long (0 = no limit)")
    training.train_or_report(p, argv, train, report)


def report(args) -> None:
    """Measure the saved pipeline and write its card (studio/diffusion/text_to_image/report.py, imported when asked)."""
    from studio.diffusion.text_to_image.report import report as write_report

    write_report(args)


if __name__ == "__main__":
    main()
