"""GAN grid speed: a 64-image grid (8×8 seeds, judged) from the built-in generator.

    python benchmarks/gan_grid.py [--model mnist-dcgan] [--repeats 30] [--device cuda]

Times the engine call the GAN tab makes (latents from 64 seeds, one batched generator pass, one batched
judge pass), median over repeats. Prints `RESULT gan_grid64_ms <ms>` (goal: under 100 ms on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import add_device_argument, announce, settings, timed  # noqa: E402
from studio.gan import engine  # noqa: E402
from studio.catalog import registry_from_settings  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mnist-dcgan")
    p.add_argument("--repeats", type=int, default=30)
    add_device_argument(p)
    args = p.parse_args()
    reg = registry_from_settings(settings(args))
    announce(reg.device)
    bundle, judge = reg.get(args.model), reg.get("digit-judge").model
    engine.grid(bundle, seed=0, n=8, judge=judge)  # warm-up
    times = [timed(lambda i=i: engine.grid(bundle, seed=i * 64, n=8, judge=judge), reg.device)
             for i in range(args.repeats)]
    no_judge = [timed(lambda i=i: engine.grid(bundle, seed=i * 64, n=8), reg.device) for i in range(args.repeats)]
    print(f"RESULT gan_grid64_ms {statistics.median(times) * 1e3:.1f}")
    print(f"RESULT gan_grid64_no_judge_ms {statistics.median(no_judge) * 1e3:.1f}")


if __name__ == "__main__":
    main()
