"""What every training command shares: the start of its argument parser and how it logs.

Each family's trainer (``python -m studio.<family>.train``) and the judge's take ``--data`` (the corpora folder),
``--out`` (the checkpoint folder it writes) and ``--seed``, and log a timestamped line per event; the rest of their
arguments are their own. Written once here so the commands agree on those names and defaults.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from studio.data import default_data_dir


def command(doc: str | None, *, out: Path | None, seed: int = 0, out_help: str | None = None,
            **flags) -> argparse.ArgumentParser:
    """A trainer's parser: ``--data``, ``--out`` (default ``out``), ``--seed``, and ``flags`` (``batch_size=128`` ->
    ``--batch-size``, its type that of the default; a ``(default, help)`` pair adds a help line), in that order."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data_dir())
    p.add_argument("--out", type=Path, default=out, help=out_help)
    p.add_argument("--seed", type=int, default=seed)
    for name, default in flags.items():
        default, help_ = default if isinstance(default, tuple) else (default, None)
        p.add_argument("--" + name.replace("_", "-"), type=type(default), default=default, help=help_)
    return p


def parse(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """The arguments, with logging set up as every trainer logs (time, then the message)."""
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return args


def train_or_report(p: argparse.ArgumentParser, argv, train, report) -> None:
    """Add ``--report`` and run: ``report(args)`` only measures the saved model and writes its card; else
    ``train(args)``."""
    p.add_argument("--report", action="store_true", help="only measure the saved model and write its card")
    args = parse(p, argv)
    (report if args.report else train)(args)
