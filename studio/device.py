"""Device, dtype and randomness, decided in one place.

* The device is chosen once per registry: ``cuda > mps > cpu`` unless ``STUDIO_DEVICE`` names one.
* The dtype follows the family: float32 on the CPU always; on a GPU, half precision only for the families
  whose numerics tolerate it (see ``DTYPE_POLICY``).
* Every request gets its own ``torch.Generator`` on the CPU; noise is drawn there and then moved, so the
  same seed gives the same numbers on CPU and GPU. Nothing here calls ``torch.manual_seed``.
"""

from __future__ import annotations

import functools
import secrets

import torch

MAX_SEED = 2**32 - 1

# family -> dtype on an accelerator. float32 everywhere on the CPU (half precision is slow there and
# loses accuracy for no gain).
#   text:      bfloat16 where supported (GPT-2 overflows in float16 in its attention softmax), else float16
#   diffusion: float16 (UNets are trained and shipped in half precision routinely)
#   vae:       float32 (SD's VAE decoder is known to produce NaNs in float16)
#   gan/judge: float32 (tiny models: half precision saves nothing and batch norm statistics drift)
DTYPE_POLICY = {"text": "half", "diffusion": "half", "t2i": "half", "vae": "float32", "gan": "float32", "judge": "float32"}

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


def offset_seed(seed: int, offset: int) -> int:
    """The seed ``offset`` past ``seed``, wrapping past 2**32 - 1 back to 0: image i of a run uses
    ``offset_seed(seed, i)``, its digit and its noise further offsets of it. So every seed a user may type works
    whatever the batch (4294967295 with a batch of 4 uses 4294967295, 0, 1, 2), and the seed a picture's recipe
    records reproduces it alone."""
    return (int(seed) + int(offset)) % (MAX_SEED + 1)


def make_generator(seed: int) -> torch.Generator:
    """A fresh CPU generator for one request. Draw noise from it on the CPU, then move (``randn``)."""
    return torch.Generator(device="cpu").manual_seed(resolve_seed(seed))


def randn(shape, *, generator: torch.Generator, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise drawn on the CPU in float32, then moved: identical for a seed on every device."""
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float32).to(device=device, dtype=dtype)


@functools.cache
def _glibc():
    """The C library where it is glibc (Linux), else None (macOS, Windows, musl); loaded once."""
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist
    except (OSError, AttributeError):
        return None
    return libc


def limit_malloc_arenas(env=None) -> int | None:
    """Cap glibc's malloc arenas (``STUDIO_MALLOC_ARENAS``, default 2; 0 leaves glibc's default of 8 per core).

    Gradio answers requests from a pool of worker threads, and glibc gives each thread its own arena; under 16
    concurrent users the server's memory then steps up and keeps creeping (benchmarks/load.py: +14.6% over
    3 minutes with the default, +9.3% with 2 arenas, and 40 MiB less at the start). Call it before threads
    start. Returns the cap set, or None where there is no glibc (macOS, Windows) or it was left alone."""
    import os

    from studio.config import env_int

    env = os.environ if env is None else env
    n = env_int(env, "STUDIO_MALLOC_ARENAS", 2)
    if n <= 0 or "MALLOC_ARENA_MAX" in env:  # off, or the environment already decides
        return None
    libc = _glibc()
    if libc is None:
        return None
    M_ARENA_MAX = -8
    return n if libc.mallopt(M_ARENA_MAX, n) == 1 else None


def start_malloc_trimmer(env=None) -> int | None:
    """Every ``STUDIO_MALLOC_TRIM_S`` seconds (default 10; 0 = never) hand the allocator's free pages back to
    the system (glibc's ``malloc_trim``) from a daemon thread.

    glibc keeps freed memory in its heaps for reuse. Under many users the server's big short-lived buffers
    (activations, images, matplotlib's canvas) leave those heaps fragmented, and the free pages between live
    blocks stay resident. ``malloc_trim`` releases the whole free pages inside every heap (milliseconds,
    holding each arena's lock briefly): benchmarks/load.py (16 clients, 120 s) starts at 698 MiB instead of 723
    and its samples average ~25 MiB lower, with as many requests answered and single-user paths as fast.
    It leaves glibc's adaptive mmap threshold alone: fixing that (``MALLOC_MMAP_THRESHOLD_=262144``) held
    memory as low but made a diffusion comparison 35-45% slower, as every large activation became an
    mmap/munmap with fresh page faults.
    Returns the period, or None where it was not started."""
    import os
    import threading
    import time

    from studio.config import env_int

    env = os.environ if env is None else env
    period = env_int(env, "STUDIO_MALLOC_TRIM_S", 10)
    if period <= 0:
        return None
    libc = _glibc()
    if libc is None:
        return None

    def trim_forever():
        while True:
            time.sleep(period)
            libc.malloc_trim(0)

    threading.Thread(target=trim_forever, name="malloc-trim", daemon=True).start()
    return period
