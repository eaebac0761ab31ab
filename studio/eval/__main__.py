"""Measure the built-in checkpoints.

    python -m studio.eval FAMILY [--json] [--data DIR] [--checkpoints DIR] [--no-write] [--table]

FAMILY is text, vae, gan, diffusion, t2i, judge or all. Prints one JSON object on stdout (with --json; a table
otherwise), keyed by checkpoint key; logs go to stderr. Each checkpoint's figures are also written to its
eval.json (unless --no-write), which the Models tab shows. Seeds are fixed: two runs print the same figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path

FAMILIES = ["text", "vae", "gan", "diffusion", "t2i", "judge"]


def main(argv=None) -> int:
    from studio.config import REPO_ROOT

    p = argparse.ArgumentParser(prog="python -m studio.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("family", choices=FAMILIES + ["all"])
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--data", type=Path, default=None, help="data folder (default: $STUDIO_DATA, else the repository's data/ folder)")
    p.add_argument("--checkpoints", type=Path, default=REPO_ROOT / "checkpoints")
    p.add_argument("--device", default="cpu", help="cpu (default, the figures in the model cards), cuda or auto")
    p.add_argument("--no-write", action="store_true", help="do not write eval.json into the checkpoint folders")
    p.add_argument("--table", action="store_true",
                   help="diffusion: also re-measure every setting of the model card's table (about 20 min on 2 CPU "
                        "cores) and rewrite the table in eval.json and the card")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")

    from studio.catalog import builtin_specs
    from studio.eval.runner import run
    from studio.registry import ModelRegistry

    # stdout carries only the JSON: libraries that print while loading are sent to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        registry = ModelRegistry(builtin_specs(args.checkpoints), device=args.device, max_loaded=3)
        families = FAMILIES if args.family == "all" else [args.family]
        results, missing = run(families, registry, data_dir=args.data, write=not args.no_write, table=args.table)
    for line in missing:
        print(f"missing: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, entry in results.items():
            figures = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("settings", "family", "table"))
            print(f"{key} ({entry['family']}): {figures}")
            if "table" in entry:
                from studio.diffusion.evaluate import markdown_table

                print(markdown_table(entry["table"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
