"""Inside the model, on demand: attention (every layer and head, eager for the one pass) and the logit lens for
one step of a long context, as the Text tab computes them when a student clicks "Show attention" / "Show the lens".

    python benchmarks/text_inside.py [--model shakespeare-gpt] [--tokens 256] [--repeats 5] [--device cuda]

The context is ``--tokens`` tokens of the held-out passage repeated (capped at the model's context). Prints the
medians and `RESULT text_inside_total_ms` (attention + lens; the goal is under 1 s on a laptop CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import add_device_argument, announce, settings, timed  # noqa: E402
from studio.catalog import registry_from_settings  # noqa: E402
from studio.text import inside  # noqa: E402
from studio.text.inside_tab import HUMAN_PASSAGE  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="shakespeare-gpt")
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    add_device_argument(p)
    args = p.parse_args()
    reg = registry_from_settings(settings(args))
    announce(reg.device)
    bundle = reg.get(args.model)
    n = min(args.tokens, bundle.context_length)
    ids = []
    while len(ids) < n:
        ids += bundle.tokenizer(HUMAN_PASSAGE + "\n\n", add_special_tokens=False)["input_ids"]
    ids = ids[:n]

    def attention():
        out = inside.attention(bundle, ids)
        assert len(out["tokens"]) == n

    def lens():
        out = inside.logit_lens(bundle, ids, positions=8)
        assert len(out["positions"]) == 8

    attention(), lens()  # warm-up
    t_att, t_lens = [], []
    for _ in range(args.repeats):
        t_att.append(timed(attention, reg.device))
        t_lens.append(timed(lens, reg.device))
    ma, ml = statistics.median(t_att), statistics.median(t_lens)
    print(f"model {args.model}: {n} context tokens; attention {ma * 1e3:.1f} ms, logit lens {ml * 1e3:.1f} ms",
          file=sys.stderr)
    print(f"RESULT text_inside_attention_ms {ma * 1e3:.2f}")
    print(f"RESULT text_inside_lens_ms {ml * 1e3:.2f}")
    print(f"RESULT text_inside_total_ms {(ma + ml) * 1e3:.2f}")


if __name__ == "__main__":
    main()
