"""Convert a pickle checkpoint to safetensors, once, on a machine you trust.

    python -m studio.convert FOLDER_OR_FILE

Reads every ``.bin/.pt/.pth/.ckpt`` with ``torch.load(weights_only=True)`` (which refuses arbitrary
objects) and writes a ``.safetensors`` file of the same name beside it. The pickle is left in place; delete it
once the converted model loads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from studio.loading import PICKLE_SUFFIXES

TARGET_NAMES = {"pytorch_model.bin": "model.safetensors", "diffusion_pytorch_model.bin": "diffusion_pytorch_model.safetensors"}


def convert_file(path: Path) -> Path:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a flat dict of tensors (a state dict); convert it by hand.")
    # safetensors refuses shared storage: give each tensor its own contiguous copy.
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    out = path.with_name(TARGET_NAMES.get(path.name, path.stem + ".safetensors"))
    save_file(state, str(out), metadata={"format": "pt"})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    files = [args.path] if args.path.is_file() else sorted(p for p in args.path.rglob("*") if p.suffix in PICKLE_SUFFIXES)
    if not files:
        print(f"no pickle files under {args.path}", file=sys.stderr)
        return 1
    for f in files:
        print(f"{f} -> {convert_file(f)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
