"""Text decoding speed: the studio's streaming loop with per-token capture vs a bare ``model.generate``.

    python benchmarks/text_decode.py [--model shakespeare-gpt] [--tokens 200] [--repeats 5] [--device cuda]

Same model, same settings (sampling, temperature 0.8, top-p 0.95, repetition penalty 1.1), same number of new
tokens (end-of-text ignored on both sides). Runs alternate, medians are compared. Prints
`RESULT text_decode_speedup <bare generate seconds / studio seconds>` (above 1 = the studio is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from benchmarks.common import add_device_argument, announce, settings, timed  # noqa: E402
from studio.catalog import registry_from_settings  # noqa: E402
from studio.registry import ModelRegistry, ModelSpec  # noqa: E402
from studio.text import engine  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="shakespeare-gpt")
    p.add_argument("--model-dir", default=None, help="a transformers folder instead of a registry key")
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--prompt", default="ROMEO:\nBut soft, what light")
    add_device_argument(p)
    args = p.parse_args()
    if args.model_dir:
        reg = ModelRegistry([ModelSpec(key="bench", family="text", source=args.model_dir,
                                       loader="transformers-causal-lm")], device=settings(args).device)
        key = "bench"
    else:
        reg, key = registry_from_settings(settings(args)), args.model
    announce(reg.device)
    bundle = reg.get(key)
    model, tok = bundle.model, bundle.tokenizer
    n = min(args.tokens, bundle.context_length - 40)
    s = engine.DecodeSettings(mode="sample", temperature=0.8, top_p=0.95, repetition_penalty=1.1,
                              max_new_tokens=n).validated()
    ids = torch.tensor([tok(args.prompt)["input_ids"]], device=reg.device)

    def bare():
        torch.manual_seed(0)
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8, top_p=0.95,
                             repetition_penalty=1.1, max_new_tokens=n, min_new_tokens=n,
                             pad_token_id=tok.eos_token_id)
        assert out.shape[1] - ids.shape[1] == n

    def studio():
        count = 0
        for _ in engine.stream(bundle, prompt=args.prompt, settings=s, seed=0, stop_at_eos=False):
            count += 1
        assert count == n

    bare(), studio()  # warm-up
    t_bare, t_studio = [], []
    for _ in range(args.repeats):
        for fn, acc in ((bare, t_bare), (studio, t_studio)):
            acc.append(timed(fn, reg.device))
    mb, ms = statistics.median(t_bare), statistics.median(t_studio)
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    print(f"model {key} ({dtype}): {n} new tokens; bare generate {mb * 1e3:.0f} ms ({mb / n * 1e3:.2f} ms/token), "
          f"studio stream with capture {ms * 1e3:.0f} ms ({ms / n * 1e3:.2f} ms/token)", file=sys.stderr)
    print(f"RESULT text_decode_bare_ms_per_token {mb / n * 1e3:.3f}")
    print(f"RESULT text_decode_studio_ms_per_token {ms / n * 1e3:.3f}")
    print(f"RESULT text_decode_speedup {mb / ms:.3f}")


if __name__ == "__main__":
    main()
