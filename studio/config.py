"""Every setting the studio reads from the environment, in one place.

| variable | default | meaning |
|---|---|---|
| STUDIO_DEVICE | auto | ``auto`` picks cuda > mps > cpu; or name one (``cpu``, ``cuda``, ``cuda:1``, ``mps``) |
| STUDIO_MAX_LOADED | 4 | models kept in memory at once; the least recently used is evicted beyond this |
| STUDIO_PRELOAD | 0 | ``1`` loads every built-in model at start (GPU Spaces); or a comma list of keys |
| STUDIO_WARM_IMPORTS | 1 | ``1``: once serving, import the built-in models' libraries in the background (no weights loaded) |
| STUDIO_HOSTED | 0 | ``1`` turns on hosted limits (see studio.config.Limits) and turns Hub loading off |
| STUDIO_ALLOW_HUB | 1 (0 when hosted) | ``1`` lets users load models by Hugging Face Hub id |
| STUDIO_ALLOW_LOCAL | 1 (0 when hosted) | ``1`` lets users add a model folder of this machine in a tab's add box |
| STUDIO_CHECKPOINTS | <repo>/checkpoints | folder scanned for built-in checkpoints |
| STUDIO_QUEUE_SIZE | 64 | requests waiting in the queue before new ones are turned away |
| STUDIO_MAX_NEW_TOKENS | 400 (200 when hosted) | most tokens one text request may generate |
| STUDIO_MAX_SCORE_TOKENS | 4096 (1024 when hosted) | longest text the Text tab scores, attends over or reads with the lens, in tokens |
| STUDIO_MAX_DIFFUSION_STEPS | 1000 (100 when hosted) | most denoising steps one diffusion run may take |
| STUDIO_MAX_BATCH | 16 (8 when hosted) | most images one diffusion run (or comparison) may draw at once |
| STUDIO_MAX_GRID | 16 (8 when hosted) | most images per side of a VAE grid (the GAN grid stops at 8 per side either way) |
| STUDIO_MAX_UPLOAD_PIXELS | 16777216 (4194304 when hosted) | largest uploaded image, width × height, read from its header |
| STUDIO_REPLAY | 1 | ``1``: identical requests (same model weights, arguments and seed) are computed once and replayed (studio/serving.py) |
| STUDIO_REPLAY_MB | 32 (16 when hosted) | memory the replay cache may hold, pickled results, in MiB |
| STUDIO_REPLAY_ENTRIES | 512 | most results the replay cache keeps |
| STUDIO_BATCH | 1 | ``1``: requests that can share a forward pass (GAN grids, VAE decodes, diffusion runs, text) run as one batch |
| STUDIO_BATCH_WINDOW_MS | 15 | how long the first request of a batch waits for others (it also waits while the compute gate is busy) |
| STUDIO_COMPUTE_SLOTS | 0 = from the machine | model computations at once: 2 per GPU, 1 on MPS, 1 per 4 CPU cores (studio.serving.compute_slots) |
| STUDIO_WORKERS | 0 = from the machine | requests of each kind Gradio runs at once: 32 per compute slot, at least 32 (studio.serving.workers_for) |
| STUDIO_MCP | 1 | ``1``: app.py also serves its endpoints as MCP tools at /gradio_api/mcp/ (needs the ``gradio[mcp]`` extra) |
| HF_HUB_OFFLINE | 0 | the Hugging Face standard: ``1`` never touches the network |

Gradio's own ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` set where it listens (default 127.0.0.1:7860).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Read a boolean environment variable; an unreadable value is an error, not a silent default."""
    raw = env.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={raw!r} is not a yes/no value; use 1 or 0.")


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}.")
    return value


@dataclass(frozen=True)
class Settings:
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    max_loaded: int = 4  # LRU capacity of the registry
    preload: tuple[str, ...] = ()  # keys to load at start; ("*",) = every built-in
    warm_imports: bool = True  # import transformers / diffusers in the background once serving (STUDIO_WARM_IMPORTS)
    hosted: bool = False  # public hosting: limits on, Hub off unless allowed
    allow_hub: bool = True  # may users load models by Hub id
    allow_local_models: bool = True  # may users add a folder of this machine (STUDIO_ALLOW_LOCAL; off when hosted)
    checkpoints_dir: Path = field(default_factory=lambda: REPO_ROOT / "checkpoints")
    queue_size: int = 64  # Gradio queue max_size
    hub_offline: bool = False  # HF_HUB_OFFLINE
    max_new_tokens: int = 400  # text: most new tokens per request (STUDIO_MAX_NEW_TOKENS)
    max_score_tokens: int = 4096  # text: longest text scored / looked inside, in tokens (STUDIO_MAX_SCORE_TOKENS)
    max_diffusion_steps: int = 1000  # diffusion: most steps per run (STUDIO_MAX_DIFFUSION_STEPS)
    max_batch: int = 16  # diffusion: most images per run (STUDIO_MAX_BATCH)
    max_grid: int = 16  # VAE grid side; the GAN grid uses min(8, this) (STUDIO_MAX_GRID)
    max_upload_pixels: int = 4096 * 4096  # uploads, width × height (STUDIO_MAX_UPLOAD_PIXELS)
    replay: bool = True  # replay identical requests (STUDIO_REPLAY)
    replay_mb: int = 32  # replay cache size in MiB (STUDIO_REPLAY_MB)
    replay_entries: int = 512  # replay cache entries (STUDIO_REPLAY_ENTRIES)
    batch: bool = True  # batch requests across users (STUDIO_BATCH)
    batch_window_ms: int = 15  # STUDIO_BATCH_WINDOW_MS
    compute_slots: int = 0  # 0: from the device and the CPU cores (STUDIO_COMPUTE_SLOTS)
    workers: int = 0  # 0: from the compute slots (STUDIO_WORKERS)
    mcp: bool = True  # serve MCP tools (STUDIO_MCP)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        hosted = env_flag(env, "STUDIO_HOSTED", False)
        preload_raw = env.get("STUDIO_PRELOAD", "0").strip()
        if preload_raw.lower() in FALSE_WORDS:
            preload: tuple[str, ...] = ()
        elif preload_raw.lower() in TRUE_WORDS or preload_raw == "*":
            preload = ("*",)
        else:
            preload = tuple(k.strip() for k in preload_raw.split(",") if k.strip())
        return cls(
            device=env.get("STUDIO_DEVICE", "auto").strip() or "auto",
            max_loaded=env_int(env, "STUDIO_MAX_LOADED", 4, minimum=1),
            preload=preload,
            warm_imports=env_flag(env, "STUDIO_WARM_IMPORTS", True),
            hosted=hosted,
            allow_hub=env_flag(env, "STUDIO_ALLOW_HUB", not hosted),
            allow_local_models=env_flag(env, "STUDIO_ALLOW_LOCAL", not hosted),
            checkpoints_dir=Path(env.get("STUDIO_CHECKPOINTS", str(REPO_ROOT / "checkpoints"))),
            queue_size=env_int(env, "STUDIO_QUEUE_SIZE", 64, minimum=1),
            hub_offline=env_flag(env, "HF_HUB_OFFLINE", False),
            max_new_tokens=env_int(env, "STUDIO_MAX_NEW_TOKENS", 200 if hosted else 400, minimum=1),
            max_score_tokens=env_int(env, "STUDIO_MAX_SCORE_TOKENS", 1024 if hosted else 4096, minimum=16),
            max_diffusion_steps=env_int(env, "STUDIO_MAX_DIFFUSION_STEPS", 100 if hosted else 1000, minimum=2),
            max_batch=env_int(env, "STUDIO_MAX_BATCH", 8 if hosted else 16, minimum=1),
            max_grid=env_int(env, "STUDIO_MAX_GRID", 8 if hosted else 16, minimum=2),
            max_upload_pixels=env_int(env, "STUDIO_MAX_UPLOAD_PIXELS", 2048 * 2048 if hosted else 4096 * 4096,
                                      minimum=16),
            replay=env_flag(env, "STUDIO_REPLAY", True),
            replay_mb=env_int(env, "STUDIO_REPLAY_MB", 16 if hosted else 32, minimum=1),
            replay_entries=env_int(env, "STUDIO_REPLAY_ENTRIES", 512, minimum=1),
            batch=env_flag(env, "STUDIO_BATCH", True),
            batch_window_ms=env_int(env, "STUDIO_BATCH_WINDOW_MS", 15, minimum=0),
            compute_slots=env_int(env, "STUDIO_COMPUTE_SLOTS", 0, minimum=0),
            workers=env_int(env, "STUDIO_WORKERS", 0, minimum=0),
            mcp=env_flag(env, "STUDIO_MCP", True),
        )
