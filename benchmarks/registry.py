"""Registry costs: cold load and warm hit for every built-in model.

    python benchmarks/registry.py

Prints `RESULT registry_cold_load_s_<key> <s>` and `RESULT registry_warm_hit_us_<key> <µs>` per built-in,
and `RESULT registry_warm_hit_us <µs>` (the worst warm hit).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.config import Settings  # noqa: E402
from studio.registry import ModelRegistry  # noqa: E402


def main() -> None:
    settings = Settings.from_env()
    registry = ModelRegistry.from_settings(settings)
    builtins = [s.key for s in registry.specs() if s.builtin]
    if not builtins:
        print("no built-in checkpoints found", file=sys.stderr)
        raise SystemExit(1)
    worst = 0.0
    lines = []
    for key in builtins:
        start = time.perf_counter()
        registry.get(key)
        cold = time.perf_counter() - start
        n = 20000
        start = time.perf_counter()
        for _ in range(n):
            registry.get(key)
        warm_us = (time.perf_counter() - start) / n * 1e6
        worst = max(worst, warm_us)
        lines.append(f"RESULT registry_cold_load_s_{key} {cold:.3f}")
        lines.append(f"RESULT registry_warm_hit_us_{key} {warm_us:.2f}")
    print("\n".join(lines))
    print(f"RESULT registry_warm_hit_us {worst:.2f}")


if __name__ == "__main__":
    main()
