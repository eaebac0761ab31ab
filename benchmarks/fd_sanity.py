"""Sanity figures for the FD ratio: real digits score about 1, degraded digits far more.

    python benchmarks/fd_sanity.py [--data DIR]

Scores 1,000 real training digits that are not the ratio's reference (MNIST 1000..1999), the same digits blurred
(a 3×3 box filter, torch's avg_pool2d), and uniform noise, each through the shipped digit judge with
``studio.eval.sample_quality.judge_figures``. Last lines: ``RESULT fd_ratio_<kind> <value>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from studio.catalog import builtin_specs  # noqa: E402
from studio.config import REPO_ROOT  # noqa: E402
from studio.data import load_mnist  # noqa: E402
from studio.eval.sample_quality import judge_figures  # noqa: E402
from studio.registry import ModelRegistry  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None)
    args = p.parse_args(argv)
    judge_spec = next(s for s in builtin_specs(REPO_ROOT / "checkpoints") if s.family == "judge")
    judge = ModelRegistry([judge_spec], device="cpu").get(judge_spec.key).model
    x, y = load_mnist("train", args.data)
    real, labels = x[1000:2000], y[1000:2000]  # (1000, 1, 28, 28); 0..999 is the ratio's reference
    blurred = F.avg_pool2d(real, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    noise = torch.rand(real.shape, generator=torch.Generator().manual_seed(0))
    results = {kind: judge_figures(judge, imgs, labels, args.data)["fd_ratio"]
               for kind, imgs in (("real", real), ("blurred", blurred), ("noise", noise))}
    print("# device: cpu")
    for kind, value in results.items():
        print(f"RESULT fd_ratio_{kind} {value}")


if __name__ == "__main__":
    main()
