"""Device, dtype and randomness, decided in one place.

* The device is chosen once per registry: ``cuda > mps > cpu`` unless ``STUDIO_DEVICE`` names one.
* The dtype follows the family: float32 on the CPU always; on a GPU, half precision only for the families
  whose numerics tolerate it (see ``DTYPE_POLICY``).
* Every request gets its own ``torch.Generator`` on the CPU; noise is drawn there and then moved, so the
  same seed gives the same numbers on CPU and GPU. Nothing here calls ``torch.manual_seed``.
"""

from __future__ import annotations

import secrets

import torch

MAX_SEED = 2**32 - 1

# family -> dtype on an accelerator. float32 everywhere on the CPU (half precision is slow there and
# loses accuracy for no gain).
#   text:      bfloat16 where supported (GPT-2 overflows in float16 in its attention softmax), else float16
#   diffusion: float16 (UNets are trained and shipped in half precision routinely)
#   vae:       float32 (SD's VAE decoder is known to produce NaNs in float16)
#   gan/judge: float32 (tiny models: half precision saves nothing and batch norm statistics drift)
DTYPE_POLICY = {"text": "half", "diffusion": "half", "vae": "float32", "gan": "float32", "judge": "float32"}

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pick_device(requested: str = "auto") -> torch.device:
    """Resolve ``auto`` to the best device present; check that a named one exists.

    Args:
        requested (`str`, defaults to ``"auto"``): ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    """
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ValueError(f"STUDIO_DEVICE={requested!r} is not a device name; use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"STUDIO_DEVICE={requested!r} asks for CUDA, but this PyTorch sees no CUDA GPU.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"STUDIO_DEVICE={requested!r}: only {torch.cuda.device_count()} CUDA device(s) present.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"STUDIO_DEVICE={requested!r} asks for Apple MPS, which is not available here.")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"STUDIO_DEVICE={requested!r}: the studio runs on cpu, cuda or mps.")
    return device


def pick_dtype(family: str, device: torch.device, requested: str = "auto") -> torch.dtype:
    """The dtype a model of ``family`` runs in on ``device``.

    Args:
        family (`str`): a family name (``text``, ``vae``, ``gan``, ``diffusion``, ``judge``).
        device (`torch.device`): where the model will live.
        requested (`str`, defaults to ``"auto"``): ``auto`` applies ``DTYPE_POLICY``; ``float32``,
            ``float16`` or ``bfloat16`` force one (a spec for a model known to need it).
    """
    if requested != "auto":
        if requested not in DTYPES:
            raise ValueError(f"dtype {requested!r} is not one of auto, {', '.join(DTYPES)}.")
        return DTYPES[requested]
    if device.type == "cpu":
        return torch.float32
    policy = DTYPE_POLICY.get(family, "float32")
    if policy == "half":
        if family == "text" and device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16
    return torch.float32


def resolve_seed(seed: int | float | None) -> int:
    """A concrete seed for a run: ``None`` or ``-1`` draw a fresh one (returned, so the recipe records it).

    Raises ``ValueError`` for anything that is not a whole number in ``[0, 2**32 - 1]``.
    """
    if seed is None or seed == -1:
        return secrets.randbelow(MAX_SEED + 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, float)):
        raise ValueError(f"Seed must be a whole number, got {seed!r}.")
    if isinstance(seed, float) and not seed.is_integer():
        raise ValueError(f"Seed must be a whole number, got {seed!r}.")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"Seed must be between 0 and {MAX_SEED} (or -1 for a random one), got {seed}.")
    return seed


def make_generator(seed: int) -> torch.Generator:
    """A fresh CPU generator for one request. Draw noise from it on the CPU, then move (``randn``)."""
    return torch.Generator(device="cpu").manual_seed(resolve_seed(seed))


def randn(shape, *, generator: torch.Generator, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise drawn on the CPU in float32, then moved: identical for a seed on every device."""
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


def limit_malloc_arenas(env=None) -> int | None:
    """Cap glibc's malloc arenas (``STUDIO_MALLOC_ARENAS``, default 2; 0 leaves glibc's default of 8 per core).

    Gradio answers requests from a pool of worker threads, and glibc gives each thread its own arena; under 16
    concurrent users the server's memory then steps up and keeps creeping (benchmarks/load.py: +14.6% over
    3 minutes with the default, +9.3% with 2 arenas, and 40 MiB less at the start). Call it before threads
    start. Returns the cap set, or None where there is no glibc (macOS, Windows) or it was left alone."""
    import ctypes
    import ctypes.util
    import os

    env = os.environ if env is None else env
    try:
        n = int(env.get("STUDIO_MALLOC_ARENAS", "2"))
    except ValueError:
        raise ValueError(f"STUDIO_MALLOC_ARENAS={env.get('STUDIO_MALLOC_ARENAS')!r} is not a whole number.") from None
    if n <= 0 or "MALLOC_ARENA_MAX" in env:  # off, or the environment already decides
        return None
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    M_ARENA_MAX = -8
    return n if mallopt(M_ARENA_MAX, n) == 1 else None
