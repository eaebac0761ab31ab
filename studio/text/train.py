"""Train the built-in text model: a small GPT-2 on Tiny Shakespeare with a byte-level BPE tokenizer.

    python -m studio.text.train --out checkpoints/shakespeare-gpt

Why byte-level BPE with 1,024 tokens rather than characters: every string a student types can be encoded (a
65-character vocabulary has no digits but '3', no accents, no emoji); tokens are word pieces as in GPT-2, so
the per-token views in the Text tab look like a real LM's; and each token covers ~2.3 characters, so a CPU
training budget sees ~2.3× more text and the model gets ~590 characters of context for 256 positions.
The held-out figure is reported in nats per character, so it compares with char-level models.

The tokenizer is trained by the `tokenizers` library on the training split only; the model is transformers'
GPT2LMHeadModel, saved with save_pretrained (safetensors, sharded so no file exceeds 9 MB) so that
AutoModelForCausalLM / AutoTokenizer load the folder. The checkpoint with the best figure on the first 20,000
held-out characters (checked every --eval-every steps) is kept; the card reports the full held-out figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from pathlib import Path

import torch

from studio.cards import command_line, machine_description, write_model_card
from studio.config import REPO_ROOT
from studio.data import default_data_dir, load_shakespeare

log = logging.getLogger("studio.text.train")
KEY = "shakespeare-gpt"
EOT = "<|endoftext|>"


def train_tokenizer(text: str, vocab_size: int):
    """A GPT-2-style byte-level BPE tokenizer trained on ``text``; ``<|endoftext|>`` is id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, unk_token=None,
                                   model_max_length=None, clean_up_tokenization_spaces=False)


def phase_table(phases: list[dict]) -> str:
    rows = ["| # | command | steps run | kept step | probe nats/char | minutes |", "|---|---|---|---|---|---|"]
    for i, ph in enumerate(phases, 1):
        rows.append(f"| {i} | `{ph['command']}` {ph.get('note', '')} | {ph['steps']} | {ph.get('kept_step', '')} | "
                    f"{ph['probe_nats_per_char']:.4f} | {ph['minutes']} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, default=REPO_ROOT / "checkpoints" / KEY)
    p.add_argument("--vocab-size", type=int, default=1024)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=6)
    p.add_argument("--n-embd", type=int, default=384)
    p.add_argument("--block-size", type=int, default=256)  # context length in tokens
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--init-from", type=Path, default=None,
                   help="continue from this checkpoint's weights and tokenizer (a further training phase); its "
                        "phases.json is carried over and this phase appended")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    from studio.device import pick_device
    from studio.text.evaluate import heldout_nats_per_char
    from studio.text.loader import TextBundle

    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # training script only: weight init and dropout
    gen = torch.Generator().manual_seed(args.seed)
    train_text, held_text = load_shakespeare("train", args.data), load_shakespeare("heldout", args.data)
    phases = []
    if args.init_from is not None and (args.init_from / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(args.init_from)
    else:  # BPE training is deterministic: the same text and size give the same tokenizer every time
        tok = train_tokenizer(train_text, args.vocab_size)
    if args.init_from is not None:
        if (args.init_from / "phases.json").is_file():
            phases = json.loads((args.init_from / "phases.json").read_text())
        # Earlier phases' curves travel with the checkpoint, as training_log_phase<N>.json for phase N: this
        # phase's training_log.json replaces the one that was there.
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
    log.info("model: %.2fM parameters", n_params / 1e6)
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
    history, best = [], (float("inf"), -1)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    running = None
    for step in range(args.steps + 1):
        if step % args.eval_every == 0 or step == args.steps:
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
            (args.out / "training_log.json").write_text(json.dumps(history, indent=1))
        if step == args.steps:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        ix = torch.randint(len(data) - args.block_size - 1, (args.batch_size,), generator=gen)
        x = torch.stack([data[i:i + args.block_size] for i in ix]).to(device)  # (B, T)
        loss = model(x, labels=x).loss  # labels are shifted inside: position t predicts t+1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
    wall = time.perf_counter() - start
    phases.append({"command": command_line(), "steps": args.steps, "lr": args.lr, "min_lr": args.min_lr,
                   "warmup": args.warmup, "kept_step": best[1], "probe_nats_per_char": best[0],
                   "minutes": round(wall / 60, 1), "machine": machine_description(device)})
    (args.out / "phases.json").write_text(json.dumps(phases, indent=1))
    total_minutes = sum(ph["minutes"] for ph in phases)
    total_steps = sum(ph.get("kept_step", ph["steps"]) for ph in phases)

    # The kept checkpoint, its tokenizer and generation defaults; then the full held-out figure.
    model = GPT2LMHeadModel.from_pretrained(args.out, use_safetensors=True).eval()
    model.generation_config = GenerationConfig(do_sample=True, temperature=0.8, top_k=0, top_p=0.95,
                                               max_new_tokens=200, bos_token_id=tok.eos_token_id,
                                               eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    model.save_pretrained(args.out, max_shard_size="9MB")
    tok.save_pretrained(args.out)
    bundle = TextBundle(model=model, tokenizer=tok, generation_config=model.generation_config,
                        context_length=args.block_size)
    full = heldout_nats_per_char(bundle, held_text)
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([tok("ROMEO:")["input_ids"]])
    with torch.no_grad():
        for _ in range(80):  # a plain sampling loop for the card's sample (temperature 0.8)
            probs = torch.softmax(model(ids[:, -args.block_size:]).logits[0, -1] / 0.8, -1)
            ids = torch.cat([ids, torch.multinomial(probs, 1, generator=g)[None]], 1)
    sample = tok.decode(ids[0])
    largest = max(f.stat().st_size for f in args.out.iterdir() if f.is_file()) / 1e6
    body = f"""# shakespeare-gpt

A small GPT-2 trained from scratch on Tiny Shakespeare by this project, the Text tab's built-in model.
Tokenizer: byte-level BPE with {len(tok):,} tokens trained on the training split (encodes any text; word
pieces like GPT-2's; {len(train_text) / len(data):.2f} characters per token on the training text).

## Measured quality
| figure | value |
|---|---|
| held-out loss, last 10% of Tiny Shakespeare ({full['n_chars']:,} characters) | **{full['heldout_nats_per_char']:.3f} nats/char** |
| same, per token ({full['n_tokens']:,} tokens) | {full['nats_per_token']:.3f} nats/token |
| references (char-level nanoGPT) | 1.47 (10.6M params, GPU) · 1.88 (small CPU config) |

Measured with a sliding window of {full['window']} tokens, stride {full['stride']} (every token predicted once, with
at least {full['window'] - full['stride']} tokens of context). Re-measure: `python -m studio.eval text --json`.

## Training
- Command: `{command_line()}`
- Data: `tinyshakespeare.txt`, first 90% of the characters ({len(train_text):,}) train, last 10% held out.
- Model: GPT2LMHeadModel, {args.n_layer} layers, {args.n_head} heads, width {args.n_embd}, context {args.block_size}
  tokens, dropout {args.dropout}; {n_params / 1e6:.2f}M parameters (tied input/output embeddings).
- Optimiser: AdamW (β = 0.9, 0.99; weight decay {args.weight_decay} on matrices), lr {args.lr:g} with {args.warmup}
  warm-up steps and cosine decay to {args.min_lr:g}, gradient clipping 1.0, batch {args.batch_size} × {args.block_size}
  tokens, {args.steps:,} steps ({args.steps * args.batch_size * args.block_size / 1e6:.1f}M tokens), seed {args.seed}.
- Kept: step {best[1]} of this phase (best figure on the first 20,000 held-out characters, checked every
  {args.eval_every} steps; the curve is in `training_log.json`, earlier phases' in `training_log_phase<N>.json`).
- Wall time: {wall / 60:.1f} min for this phase on {machine_description(device)}.

### Training phases (all of them, in order; `phases.json`)
{phase_table(phases)}

Total: {total_steps:,} optimiser steps kept, {total_minutes:.0f} min of training.
- Files: safetensors shards of at most 9 MB (largest file {largest:.1f} MB).

## Sample (prompt "ROMEO:", temperature 0.8, seed 0)
```
{sample}
```
"""
    write_model_card(args.out, key=KEY, family="text", loader="transformers-causal-lm", library_name="transformers",
                     tags=["text-generation", "gpt2", "shakespeare"],
                     description=f"{n_params / 1e6:.1f}M-parameter GPT-2 trained on Tiny Shakespeare "
                                 f"({full['heldout_nats_per_char']:.2f} nats/char held-out)", body=body)
    log.info("held-out %.4f nats/char; wrote %s", full["heldout_nats_per_char"], args.out)


if __name__ == "__main__":
    main()
