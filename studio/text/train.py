"""Train a built-in text model: a small GPT-2 on Tiny Shakespeare (``shakespeare-gpt``) or the Tang poems (``tang-gpt``).

    python -m studio.text.train --out checkpoints/shakespeare-gpt
    python -m studio.text.train --corpus tang --out checkpoints/tang-gpt [model and schedule flags]
    torchrun --nproc_per_node 4 -m studio.text.train --corpus tang ...   # DistributedDataParallel, one GPU a process

Tokenizers (``studio/text/corpora.py`` says why): byte-level BPE with 1,024 tokens for Shakespeare (every string
encodes; word pieces as in GPT-2; ~2.4 characters a token, so a CPU budget sees more text); for the Tang poems one
token per character with UTF-8 byte fallback, in simplified characters (OpenCC). Held-out figures are in nats per
character whatever the tokenizer.

The tokenizer is trained on the training split only; the model is transformers' GPT2LMHeadModel, saved with
save_pretrained (safetensors, sharded so no file exceeds 9 MB) so that AutoModelForCausalLM / AutoTokenizer load
the folder. The checkpoint with the best figure on the first 20,000 held-out characters (checked every
--eval-every steps) is kept; the card reports the full held-out figure.

Several processes (``torchrun``, or ``accelerate launch`` which sets the same environment): each process draws
the same global batch of --batch-size windows from the same seeded generator and trains on its own contiguous
share; DistributedDataParallel averages the gradients, so the step equals one process's step on the whole batch
(up to float summation order, and dropout's random masks, which differ per process). Process 0 evaluates, saves
and writes the card. ``--max-minutes`` ends training early (at that wall time) and keeps what was reached.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import torch

from studio.cards import command_line, machine_description, write_model_card
from studio.config import REPO_ROOT
from studio.data import default_data_dir
from studio.text.corpora import CORPORA, corpus_text, tokenizer_for

log = logging.getLogger("studio.text.train")


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) under torchrun / accelerate launch, else (0, 1, 0); starts the process group
    (NCCL on CUDA, gloo on CPU) when there are several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, local


def phase_table(phases: list[dict]) -> str:
    rows = ["| # | command | steps run | kept step | probe nats/char | minutes |", "|---|---|---|---|---|---|"]
    for i, ph in enumerate(phases, 1):
        rows.append(f"| {i} | `{ph['command']}` {ph.get('note', '')} | {ph['steps']} | {ph.get('kept_step', '')} | "
                    f"{ph['probe_nats_per_char']:.4f} | {ph['minutes']} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", choices=sorted(CORPORA), default="shakespeare")
    p.add_argument("--script", choices=["simplified", "traditional"], default="simplified",
                   help="tang: the characters trained on (default simplified, converted by OpenCC)")
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, default=None, help="default: checkpoints/<the corpus's key>")
    p.add_argument("--key", default=None, help="the checkpoint's key in the studio (default: the corpus's)")
    p.add_argument("--vocab-size", type=int, default=1024, help="shakespeare: BPE tokens")
    p.add_argument("--min-char-count", type=int, default=3,
                   help="tang: characters seen fewer times in training are written as UTF-8 bytes")
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=384)
    p.add_argument("--block-size", type=int, default=256)  # context length in tokens
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=16, help="the global batch, over all processes")
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much training time (the card says so) and keep the best checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--rows-log", type=Path, default=None,
                   help="write the corpus offsets each process trained on, per step, to <this>.rank<r>.json "
                        "(to check that the processes split the global batch)")
    p.add_argument("--init-from", type=Path, default=None,
                   help="continue from this checkpoint's weights and tokenizer (a further training phase); its "
                        "phases.json is carried over and this phase appended")
    args = p.parse_args(argv)
    corpus = CORPORA[args.corpus]
    key = args.key or corpus.key
    args.out = args.out or REPO_ROOT / "checkpoints" / key
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from transformers import GPT2Config, GPT2LMHeadModel

    from studio.device import pick_device
    from studio.text.evaluate import heldout_nats_per_char
    from studio.text.loader import TextBundle

    rank, world, local_rank = distributed()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} does not split over {world} processes")
    device = pick_device(args.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    main_process = rank == 0
    torch.manual_seed(args.seed)  # training script only: weight init and dropout (the same init on every process)
    gen = torch.Generator().manual_seed(args.seed)  # the batches: the same global batch on every process
    train_text = corpus_text(args.corpus, "train", args.data, script=args.script)
    held_text = corpus_text(args.corpus, "heldout", args.data, script=args.script)
    phases = []
    if args.init_from is not None and (args.init_from / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.init_from)
    else:  # deterministic: the same text and settings give the same tokenizer every time
        tok = tokenizer_for(args.corpus, train_text, vocab_size=args.vocab_size, min_count=args.min_char_count)
    if args.init_from is not None:
        if (args.init_from / "phases.json").is_file():
            phases = json.loads((args.init_from / "phases.json").read_text())
        # Earlier phases' curves travel with the checkpoint, as training_log_phase<N>.json for phase N: this
        # phase's training_log.json replaces the one that was there.
        if main_process:
            args.out.mkdir(parents=True, exist_ok=True)
            for earlier in sorted(args.init_from.glob("training_log_phase*.json")):
                if not (args.out / earlier.name).exists():
                    shutil.copyfile(earlier, args.out / earlier.name)
            last_log = args.out / f"training_log_phase{len(phases)}.json"
            if phases and (args.init_from / "training_log.json").is_file() and not last_log.exists():
                shutil.copyfile(args.init_from / "training_log.json", last_log)
    data = torch.tensor(tok(train_text)["input_ids"], dtype=torch.long)  # (N,)
    log.info("tokenizer: %d tokens; training text %d chars -> %d tokens (%.2f chars/token)", len(tok),
             len(train_text), len(data), len(train_text) / len(data))

    config = GPT2Config(vocab_size=len(tok), n_positions=args.block_size, n_embd=args.n_embd, n_layer=args.n_layer,
                        n_head=args.n_head, resid_pdrop=args.dropout, embd_pdrop=args.dropout,
                        attn_pdrop=args.dropout, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.eos_token_id)
    if args.init_from is not None:
        model = GPT2LMHeadModel.from_pretrained(args.init_from, use_safetensors=True).to(device)
        model.config.resid_pdrop = model.config.embd_pdrop = model.config.attn_pdrop = args.dropout
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = args.dropout
        config = model.config
    else:
        model = GPT2LMHeadModel(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %.2fM parameters; %d process(es)", n_params / 1e6, world)
    trained = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))

    def lr_at(step):  # linear warm-up, then cosine decay to min_lr
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(args.steps - args.warmup, 1)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))

    probe = held_text[:20000]
    bundle = TextBundle(model=model, tokenizer=tok, generation_config=None, context_length=args.block_size)
    history, best, step_losses = [], (float("inf"), -1), []
    if main_process:
        args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    running, stopped_early, last_step = None, False, 0
    share = args.batch_size // world
    rows_seen = []  # --rows-log: the offsets of this process's rows, per step
    for step in range(args.steps + 1):
        out_of_time = args.max_minutes is not None and (time.perf_counter() - start) / 60 >= args.max_minutes
        if world > 1:  # every process stops at the same step
            flag = torch.tensor([float(out_of_time)], device=device)
            torch.distributed.all_reduce(flag)
            out_of_time = bool(flag.item())
        last = step == args.steps or out_of_time
        if main_process and (step % args.eval_every == 0 or last):
            model.eval()
            score = heldout_nats_per_char(bundle, probe, batch_size=16)["heldout_nats_per_char"]
            model.train()
            history.append({"step": step, "train_loss_per_token": running, "probe_nats_per_char": score,
                            "minutes": (time.perf_counter() - start) / 60})
            log.info("step %d  train loss %.3f/token  held-out probe %.4f nats/char  (%.1f min)", step,
                     running or float("nan"), score, (time.perf_counter() - start) / 60)
            if score < best[0]:
                best = (score, step)
                model.save_pretrained(args.out, max_shard_size="9MB")
            (args.out / "training_log.json").write_text(json.dumps(
                {"evaluations": history, "step_losses": step_losses}, indent=1))
        if last:
            stopped_early, last_step = out_of_time and step < args.steps, step
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        ix = torch.randint(len(data) - args.block_size - 1, (args.batch_size,), generator=gen)
        ix = ix[rank * share:(rank + 1) * share]  # this process's share of the global batch
        if args.rows_log is not None:
            rows_seen.append(ix.tolist())
        x = torch.stack([data[i:i + args.block_size] for i in ix]).to(device)  # (B / world, T)
        loss = trained(x, labels=x).loss  # labels are shifted inside: position t predicts t+1
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP: the gradients are averaged over the processes here
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = loss.detach()
        if world > 1:
            torch.distributed.all_reduce(value)
            value = value / world
        step_losses.append(round(value.item(), 6))
        running = value.item() if running is None else 0.95 * running + 0.05 * value.item()
    wall = time.perf_counter() - start
    if args.rows_log is not None:
        Path(f"{args.rows_log}.rank{rank}.json").write_text(json.dumps(rows_seen))
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if not main_process:
        return
    note = (f"(planned {args.steps:,} steps; stopped by --max-minutes {args.max_minutes:g} after step {last_step})"
            if stopped_early else "")
    phases.append({"command": command_line(), "note": note, "steps": last_step, "lr": args.lr, "min_lr": args.min_lr,
                   "warmup": args.warmup, "kept_step": best[1], "probe_nats_per_char": best[0],
                   "minutes": round(wall / 60, 1), "machine": machine_description(device), "processes": world})
    (args.out / "phases.json").write_text(json.dumps(phases, indent=1))
    write_card(args, corpus, key, tok, phases, best, wall, device, train_text, held_text, data, n_params, note)


def write_card(args, corpus, key, tok, phases, best, wall, device, train_text, held_text, data, n_params, note):
    """The kept checkpoint, its tokenizer and generation defaults; then the full held-out figure, and the card."""
    from transformers import GenerationConfig, GPT2LMHeadModel

    from studio.text.evaluate import heldout_nats_per_char
    from studio.text.loader import TextBundle

    total_minutes = sum(ph["minutes"] for ph in phases)
    total_steps = sum(ph.get("kept_step", ph["steps"]) for ph in phases)
    model = GPT2LMHeadModel.from_pretrained(args.out, use_safetensors=True).eval()
    model.generation_config = GenerationConfig(do_sample=True, temperature=0.8, top_k=0, top_p=0.95,
                                               max_new_tokens=200 if args.corpus == "shakespeare" else 64,
                                               bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.eos_token_id)
    model.save_pretrained(args.out, max_shard_size="9MB")
    tok.save_pretrained(args.out)
    bundle = TextBundle(model=model, tokenizer=tok, generation_config=model.generation_config,
                        context_length=args.block_size)
    full = heldout_nats_per_char(bundle, held_text)
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([tok(corpus.prompt)["input_ids"]])
    with torch.no_grad():
        for _ in range(80):  # a plain sampling loop for the card's sample (temperature 0.8)
            probs = torch.softmax(model(ids[:, -args.block_size:]).logits[0, -1] / 0.8, -1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=g)[None]], 1)
    sample = tok.decode(ids[0])
    largest = max(f.stat().st_size for f in args.out.iterdir() if f.is_file()) / 1e6
    if args.corpus == "shakespeare":
        intro = (f"A small GPT-2 trained from scratch on Tiny Shakespeare by this project, the Text tab's built-in "
                 f"model.\nTokenizer: byte-level BPE with {len(tok):,} tokens trained on the training split (encodes "
                 f"any text; word\npieces like GPT-2's; {len(train_text) / len(data):.2f} characters per token on "
                 f"the training text).")
        data_line = (f"`tinyshakespeare.txt`, first 90% of the characters ({len(train_text):,}) train, last 10% "
                     f"held out.")
        rows = "| references (char-level nanoGPT) | 1.47 (10.6M params, GPU) · 1.88 (small CPU config) |"
        figure = f"held-out loss, last 10% of Tiny Shakespeare ({full['n_chars']:,} characters)"
        eval_cmd = "python -m studio.eval text --json"
    else:
        intro = (f"A small GPT-2 trained from scratch on the Tang poems (全唐诗) by this project, the Text tab's "
                 f"built-in Chinese model.\nTokenizer: one token per character ({args.script} characters), "
                 f"{len(tok):,} tokens: every character seen at least\n{args.min_char_count} times in training, "
                 f"and the 256 UTF-8 bytes for anything else ({len(data) / len(train_text):.4f} tokens per "
                 f"character on the\ntraining text). See `studio/text/corpora.py` for why.")
        data_line = (f"`tang-poems/tang-poems.jsonl` (57,607 poems, chinese-poetry project, MIT; "
                     f"`python -m studio.data fetch tang`), {args.script} characters; {corpus.split}: "
                     f"{len(train_text):,} training characters, {len(held_text):,} held out.")
        rows = ""
        figure = f"held-out loss, every 10th poem ({full['n_chars']:,} characters)"
        eval_cmd = "python -m studio.eval text --json"
    body = f"""# {key}

{intro}

## Measured quality
| figure | value |
|---|---|
| {figure} | **{full['heldout_nats_per_char']:.3f} nats/char** |
| same, per token ({full['n_tokens']:,} tokens) | {full['nats_per_token']:.3f} nats/token |
{rows}

Measured with a sliding window of {full['window']} tokens, stride {full['stride']} (every token predicted once, with
at least {full['window'] - full['stride']} tokens of context). Re-measure: `{eval_cmd}`.

## Training
- Command: `{command_line()}` {note}
- Data: {data_line}
- Model: GPT2LMHeadModel, {args.n_layer} layers, {args.n_head} heads, width {args.n_embd}, context {args.block_size}
  tokens, dropout {args.dropout}; {n_params / 1e6:.2f}M parameters (tied input/output embeddings).
- Optimiser: AdamW (β = 0.9, 0.99; weight decay {args.weight_decay} on matrices), lr {args.lr:g} with {args.warmup}
  warm-up steps and cosine decay to {args.min_lr:g}, gradient clipping 1.0, batch {args.batch_size} × {args.block_size}
  tokens, {phases[-1]['steps']:,} steps ({phases[-1]['steps'] * args.batch_size * args.block_size / 1e6:.1f}M tokens),
  seed {args.seed}, {phases[-1]['processes']} process(es).
- Kept: step {best[1]} of this phase (best figure on the first 20,000 held-out characters, checked every
  {args.eval_every} steps; the curve is in `training_log.json`, earlier phases' in `training_log_phase<N>.json`).
- Wall time: {wall / 60:.1f} min for this phase on {machine_description(device)}.

### Training phases (all of them, in order; `phases.json`)
{phase_table(phases)}

Total: {total_steps:,} optimiser steps kept, {total_minutes:.0f} min of training.
- Files: safetensors shards of at most 9 MB (largest file {largest:.1f} MB).

## Sample (prompt "{corpus.prompt.strip()}", temperature 0.8, seed 0)
```
{sample}
```
"""
    description = (f"{n_params / 1e6:.1f}M-parameter GPT-2 trained on {corpus.title} "
                   f"({full['heldout_nats_per_char']:.2f} nats/char held-out)")
    write_model_card(args.out, key=key, family="text", loader="transformers-causal-lm", library_name="transformers",
                     tags=["text-generation", "gpt2", *corpus.tags], description=description, body=body,
                     studio_extra={"corpus": corpus.name, "language": "en" if corpus.name == "shakespeare" else "zh"})
    log.info("held-out %.4f nats/char; wrote %s", full["heldout_nats_per_char"], args.out)


if __name__ == "__main__":
    main()
