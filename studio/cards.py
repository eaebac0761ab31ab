"""Model cards for the built-in checkpoints, written with huggingface_hub's ModelCard.

Every card carries the YAML front matter the catalog reads (a ``studio:`` block: key, family, loader,
description) and a body with the exact training command, data, steps, wall time, machine and the measured
quality figures.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import torch


def machine_description(device: torch.device | str = "cpu") -> str:
    device = torch.device(device)
    if device.type == "cuda":
        where = f"GPU {torch.cuda.get_device_name(device)}"
    else:
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        where = f"CPU {cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    return f"{where}; Python {platform.python_version()}, torch {torch.__version__}, {platform.system()}"


def command_line() -> str:
    """The command that is running, as a user would type it (`python -m module args`)."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    prog = f"python -m {spec.name}" if spec is not None and spec.name else f"python {sys.argv[0]}"
    return " ".join([prog, *sys.argv[1:]])


def write_model_card(folder: Path, *, key: str, family: str, loader: str, description: str, body: str,
                     license: str = "mit", library_name: str = "generative-studio", tags=(),
                     studio_extra: dict | None = None) -> Path:
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(license=license, library_name=library_name, tags=["generative-studio", *tags],
                         studio={"key": key, "family": family, "loader": loader, "description": description,
                                                       **(studio_extra or {})})
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body.strip()}\n")
    path = Path(folder) / "README.md"
    card.save(path)
    return path
