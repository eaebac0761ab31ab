"""What the benchmark scripts share: the device they run on, and timing that waits for it.

Every script runs where the studio would: ``STUDIO_DEVICE`` (``auto`` by default: a CUDA GPU when there is
one, else the CPU), or ``--device`` to override it. Each prints a ``# device:`` line first so a figure is never
read without the machine it came from. On a GPU the kernels run asynchronously, so each timed call ends with
``torch.cuda.synchronize``; without it a benchmark would time the kernel launches, not the work.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from studio.cards import machine_description  # noqa: E402
from studio.config import Settings  # noqa: E402
from studio.device import pick_device  # noqa: E402


def add_device_argument(parser) -> None:
    parser.add_argument("--device", default=None,
                        help="auto, cpu, cuda, cuda:N or mps (default: STUDIO_DEVICE, else auto)")


def settings(args) -> Settings:
    """The studio's settings from the environment, with ``--device`` applied when given."""
    s = Settings.from_env()
    s = dataclasses.replace(s, device=args.device) if getattr(args, "device", None) else s
    try:
        pick_device(s.device)  # a device that is not there stops the benchmark with the reason, not a traceback
    except ValueError as e:
        raise SystemExit(str(e)) from None
    return s


def announce(device: torch.device) -> None:
    """Print the machine line every benchmark output starts with."""
    print(f"# device: {device} — {machine_description(device)}", flush=True)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn, device: torch.device) -> float:
    """Seconds ``fn()`` takes, including the device finishing what it queued."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def resolve(args) -> torch.device:
    """The device a benchmark runs on (``--device``, else ``STUDIO_DEVICE``, else the best one present)."""
    return pick_device(settings(args).device)
