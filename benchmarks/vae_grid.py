"""VAE grid speed: a 16×16 bilinear grid from the built-in wide VAE, decoded in one batched call.

    python benchmarks/vae_grid.py [--model mnist-vae-16d] [--repeats 30] [--device cuda]

Times the engine call the VAE tab makes (encode 4 corners, mix 256 latents, one decode), median over repeats.
Prints `RESULT vae_grid16_ms <ms>` (goal: under 150 ms on a 2-core CPU).
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
from studio.data import heldout_digit  # noqa: E402
from studio.vae import engine  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mnist-vae-16d")
    p.add_argument("--repeats", type=int, default=30)
    add_device_argument(p)
    args = p.parse_args()
    reg = registry_from_settings(settings(args))
    announce(reg.device)
    bundle = reg.get(args.model)
    corners = torch.cat([heldout_digit(i)[0] for i in range(4)])  # (4, 1, 28, 28)
    out = engine.corner_grid(bundle, images=corners, n=16)  # warm-up
    assert out["images"].shape == (256, 1, 28, 28)
    times = [timed(lambda: engine.corner_grid(bundle, images=corners, n=16), reg.device) for _ in range(args.repeats)]
    print(f"RESULT vae_grid16_ms {statistics.median(times) * 1e3:.1f}")


if __name__ == "__main__":
    main()
