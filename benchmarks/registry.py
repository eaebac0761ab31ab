"""Registry costs for every built-in model: the first load in a fresh process and a reload.

    python benchmarks/registry.py
    python benchmarks/registry.py --only mnist-ddpm
    python benchmarks/registry.py --device cuda     # (or STUDIO_DEVICE=cuda) loads onto the GPU

Each model is measured in its own fresh Python process (``studio.registry`` already imported), so the first
load includes importing that family's libraries (transformers, diffusers) — what the first request to a tab
costs in a freshly started ``python app.py`` — and no model's figure carries another's imports. Then the model is
unloaded and loaded again (libraries imported, files in the OS cache: the cost of a load after an eviction).
What a user waits for once a model is loaded (a click to its first answer) is `tab_paths.py`'s figure.

Prints a table on stderr, then per built-in `RESULT registry_first_load_s_<key> <s>` and
`RESULT registry_cold_load_s_<key> <s>` (the reload).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(key: str) -> dict:
    """In this (fresh) process: first load, reload after unload."""
    from benchmarks.common import synchronize
    from studio.config import Settings
    from studio.catalog import registry_from_settings

    registry = registry_from_settings(Settings.from_env())
    start = time.perf_counter()
    registry.get(key)
    synchronize(registry.device)
    first = time.perf_counter() - start
    registry.unload(key)
    start = time.perf_counter()
    registry.get(key)
    synchronize(registry.device)
    reload = time.perf_counter() - start
    return {"first": first, "reload": reload}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="one built-in model key")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # measure this key here and print JSON
    from benchmarks.common import add_device_argument, announce, settings

    add_device_argument(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return

    from studio.catalog import registry_from_settings

    registry = registry_from_settings(settings(args))
    announce(registry.device)
    builtins = [s.key for s in registry.specs() if s.builtin]
    env = {**os.environ, "STUDIO_DEVICE": str(registry.device)}  # the children load onto the same device
    if args.only:
        if args.only not in builtins:
            raise SystemExit(f"{args.only!r} is not a built-in model: {', '.join(builtins)}")
        builtins = [args.only]
    if not builtins:
        raise SystemExit("no built-in checkpoints found")
    results = {}
    for key in builtins:
        out = subprocess.run([sys.executable, __file__, "--child", key], cwd=ROOT, capture_output=True, text=True,
                             check=True, env=env)
        results[key] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[key]
        print(f"{key:16} first load {r['first']:7.3f} s   reload {r['reload']:7.3f} s",
              file=sys.stderr)
    for key, r in results.items():
        print(f"RESULT registry_first_load_s_{key} {r['first']:.3f}")
        print(f"RESULT registry_cold_load_s_{key} {r['reload']:.3f}")


if __name__ == "__main__":
    main()
