"""Every setting the studio reads from the environment, in one place.

| variable | default | meaning |
|---|---|---|
| STUDIO_DEVICE | auto | ``auto`` picks cuda > mps > cpu; or name one (``cpu``, ``cuda``, ``cuda:1``, ``mps``) |
| STUDIO_MAX_LOADED | 8 | models kept in memory at once (every built-in); the least recently used is evicted beyond this |
| STUDIO_PRELOAD | 0 | ``1`` loads every built-in model at start (GPU Spaces); or a comma list of keys |
| STUDIO_WARM_IMPORTS | 1 | ``1``: once serving, import the built-in models' libraries in the background (no weights loaded) |
| STUDIO_HOSTED | auto | served to others: on a Space (``SPACE_ID``) or listening beyond loopback (``GRADIO_SERVER_NAME``) it is ``1`` unless set to ``0``; hosted limits on, host actions need the host (studio/hosting.py) |
| STUDIO_HOST_TOKEN | unset | the host's token: a page signed in with it (Models tab) or a request with it in ``X-Studio-Host-Token`` may load, unload and add models when hosted |
| STUDIO_MODELS | unset | Hub models the host offers, comma-separated: keys of the known ones (``gpt2``) or ``family:owner/name`` |
| STUDIO_ALLOW_HUB | 1 (0 when hosted) | ``1``: new Hugging Face Hub ids may be added (hosted: by the host) |
| STUDIO_ALLOW_LOCAL | 1 (0 when hosted) | ``1``: a model folder of this machine may be added (hosted: by the host) |
| STUDIO_CHECKPOINTS | <repo>/checkpoints | folder scanned for built-in checkpoints |
| STUDIO_QUEUE_SIZE | 64 | requests waiting in the queue before new ones are turned away |
| STUDIO_MAX_NEW_TOKENS | 400 (200 when hosted) | most tokens one text request may generate |
| STUDIO_MAX_SCORE_TOKENS | 4096 (1024 when hosted) | longest text the Text tab scores, attends over or reads with the lens, in tokens |
| STUDIO_MAX_DIFFUSION_STEPS | 1000 (100 when hosted) | most denoising steps one diffusion run may take |
| STUDIO_MAX_BATCH | 16 (8 when hosted) | most images one diffusion run (or comparison) may draw at once |
| STUDIO_MAX_GRID | 16 (8 when hosted) | most images per side of a VAE grid (the GAN grid stops at 8 per side either way) |
| STUDIO_MAX_UPLOAD_PIXELS | 16777216 (4194304 when hosted) | largest uploaded image, width × height, read from its header |
| STUDIO_REPLAY | 1 | ``1``: identical requests (same model weights, arguments and seed) are computed once and replayed (studio/serving/replay.py) |
| STUDIO_REPLAY_MB | 32 (16 when hosted) | memory the replay cache may hold, pickled results, in MiB |
| STUDIO_REPLAY_ENTRIES | 512 | most results the replay cache keeps |
| STUDIO_BATCH | 1 | ``1``: requests that can share a forward pass (GAN grids, VAE decodes, diffusion runs, text) run as one batch |
| STUDIO_BATCH_WINDOW_MS | 15 | how long the first request of a batch waits for others (it also waits while the compute gate is busy) |
| STUDIO_COMPUTE_SLOTS | 0 = from the machine | model computations at once: 2 per GPU, 1 on MPS, 1 per 4 CPU cores (studio.serving.compute_slots) |
| STUDIO_WORKERS | 0 = from the machine | requests of each kind Gradio runs at once: 32 per compute slot, at least 32 (studio.serving.workers_for) |
| STUDIO_MCP | 1 | ``1``: app.py also serves its endpoints as MCP tools at /gradio_api/mcp/ (needs the ``gradio[mcp]`` extra) |
| STUDIO_MAX_WORK | 40000000 (2000000 when hosted) | most work one request may ask for: pixels × images × steps of a diffusion run or comparison, cells × steps × pixels of a grid |
| STUDIO_MAX_FILE_MB | 20 (8 when hosted) | largest file an upload may send |
| STUDIO_STATE_MINUTES | 60 (10 when hosted) | how long a session's runs and trainers are kept after its last use |
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


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}


def hosted_mode(env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether the studio is served to others, and why: ``STUDIO_HOSTED`` when set; else yes on a Hugging Face
    Space (``SPACE_ID``) or when the server listens on an address other machines reach (``GRADIO_SERVER_NAME``
    other than loopback, e.g. 0.0.0.0 for a classroom); else no."""
    raw = env.get("STUDIO_HOSTED")
    if raw is not None and raw.strip() != "":
        on = env_flag(env, "STUDIO_HOSTED", False)
        return on, f"STUDIO_HOSTED={raw.strip()}"
    if env.get("SPACE_ID"):
        return True, f"a Hugging Face Space (SPACE_ID={env['SPACE_ID']})"
    name = (env.get("GRADIO_SERVER_NAME") or "127.0.0.1").strip()
    if name not in LOOPBACK_NAMES and not name.startswith("127."):
        return True, f"listening on {name} (GRADIO_SERVER_NAME), which other machines reach"
    return False, f"listening on {name} only, this machine"


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
    max_loaded: int = 8  # LRU capacity of the registry: every built-in (the Families tab alone needs five)
    preload: tuple[str, ...] = ()  # keys to load at start; ("*",) = every built-in
    warm_imports: bool = True  # import transformers / diffusers in the background once serving (STUDIO_WARM_IMPORTS)
    hosted: bool = False  # served to others: limits on, Hub off unless allowed, host actions for the host
    hosted_reason: str = "listening on 127.0.0.1 only, this machine"  # why hosted is what it is
    on_space: bool = False  # a Hugging Face Space (SPACE_ID): every request comes through its proxy
    host_token: str | None = None  # STUDIO_HOST_TOKEN
    listed_models: tuple[str, ...] = ()  # STUDIO_MODELS: Hub models the host offers
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
    max_work: int = 40_000_000  # model evaluations × pictures × positions per request (STUDIO_MAX_WORK)
    max_file_mb: int = 20  # largest upload (STUDIO_MAX_FILE_MB)
    state_minutes: int = 60  # a session's kept runs and trainers live this long after last use (STUDIO_STATE_MINUTES)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        hosted, reason = hosted_mode(env)
        preload_raw = env.get("STUDIO_PRELOAD", "0").strip()
        if preload_raw.lower() in FALSE_WORDS:
            preload: tuple[str, ...] = ()
        elif preload_raw.lower() in TRUE_WORDS or preload_raw == "*":
            preload = ("*",)
        else:
            preload = tuple(k.strip() for k in preload_raw.split(",") if k.strip())
        return cls(
            device=env.get("STUDIO_DEVICE", "auto").strip() or "auto",
            max_loaded=env_int(env, "STUDIO_MAX_LOADED", 8, minimum=1),
            preload=preload,
            warm_imports=env_flag(env, "STUDIO_WARM_IMPORTS", True),
            hosted=hosted,
            hosted_reason=reason,
            on_space=bool(env.get("SPACE_ID")),
            host_token=(env.get("STUDIO_HOST_TOKEN") or "").strip() or None,
            listed_models=tuple(k.strip() for k in env.get("STUDIO_MODELS", "").split(",") if k.strip()),
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
            max_work=env_int(env, "STUDIO_MAX_WORK", 2_000_000 if hosted else 40_000_000, minimum=1024),
            max_file_mb=env_int(env, "STUDIO_MAX_FILE_MB", 8 if hosted else 20, minimum=1),
            state_minutes=env_int(env, "STUDIO_STATE_MINUTES", 10 if hosted else 60, minimum=1),
        )

    def describe(self) -> str:
        """One line for the log at start: the mode, why, and what it allows."""
        if not self.hosted:
            return (f"Local mode ({self.hosted_reason}): every control is open to whoever uses this page; set "
                    f"STUDIO_HOSTED=1 to serve it to others with the hosted limits.")
        adds = [w for w, on in (("Hub ids", self.allow_hub), ("folders of this machine", self.allow_local_models)) if on]
        host = ("the host token (STUDIO_HOST_TOKEN) is set" if self.host_token else
                "no host token is set, so " + ("no one" if self.on_space else "only this machine itself") +
                " may load, unload or add models")
        return (f"Hosted mode ({self.hosted_reason}; STUDIO_HOSTED=0 turns it off): built-in models"
                f"{' and ' + ', '.join(self.listed_models) if self.listed_models else ''} only; new models from "
                f"{' and '.join(adds) if adds else 'nowhere (STUDIO_ALLOW_HUB / STUDIO_ALLOW_LOCAL opt in)'}; "
                f"{host}.")
