"""Serving a classroom from one machine: replay what was already computed, batch what can share a forward pass,
and a fair compute gate sized from the machine. Plain Python (no Gradio, no torch); the tabs' wiring
(``studio.ui.common.wired``) puts it around their handlers.

* :mod:`studio.serving.gate` — :class:`ComputeGate`: how many computations run at once (``compute_slots``: per
  device, per CPU core), given out fairly (interactive work before background training, the least-used visitor
  first, short slices).
* :mod:`studio.serving.replay` — :class:`ReplayCache`: identical requests computed once and replayed.
* :mod:`studio.serving.batcher` — :class:`Batcher`: requests with the same batch key (same model and the settings
  that must agree) that arrive while the compute gate is busy, or within a short window, run as one batch; each
  gets its own slice, and one request's failure is its own.
* :class:`Serving` — the three of one studio, with its host policy (studio.hosting), found from its registry.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from studio.hosting import HostPolicy
from studio.serving.batcher import Batcher
from studio.serving.gate import (BACKGROUND_WAIT_S, HALF_LIFE_S, SLICE_S, WORKERS_PER_SLOT, ComputeGate,  # noqa: F401
                                 compute_slots, cpu_cores, current_owner, interleave, owned_by, workers_for)
from studio.serving.replay import (RECORD_EVERY_S, REPLAY_FRAMES, Recording, ReplayCache, ReplayStats,  # noqa: F401
                                   folder_fingerprint, plain, recipe_key, spaced, thin)


@dataclass
class Serving:
    """The replay cache, the batcher and the compute gate of one studio (``studio.ui.app.build_studio``)."""

    gate: ComputeGate
    replay: ReplayCache
    batcher: Batcher
    workers: int
    host: HostPolicy = field(default_factory=HostPolicy)  # who may load, unload and add models (studio.hosting)

    @classmethod
    def from_settings(cls, settings, device: str = "cpu") -> "Serving":

        slots = settings.compute_slots or compute_slots(device)
        gate = ComputeGate(slots)
        replay = ReplayCache(max_entries=settings.replay_entries, max_bytes=settings.replay_mb << 20,
                             enabled=settings.replay)
        batcher = Batcher(gate, window_s=settings.batch_window_ms / 1000, enabled=settings.batch)
        return cls(gate=gate, replay=replay, batcher=batcher, workers=settings.workers or workers_for(slots),
                   host=HostPolicy.from_settings(settings))

    def summary(self) -> dict:
        r, b = self.replay.stats, self.batcher.stats
        return {"compute_slots": self.gate.slots, "workers": self.workers, "replay_entries": len(self.replay),
                "replay_mb": round(self.replay.nbytes / 2**20, 1), "replay_hits": r.hits, "replay_follows": r.follows,
                "replay_misses": r.misses, "replay_bypassed": r.bypassed, "batches": b.batches,
                "batched_requests": b.requests, "largest_batch": b.largest}


_BY_REGISTRY: weakref.WeakKeyDictionary | None = None  # registry -> Serving


def attach(registry, serving: Serving) -> Serving:
    """Make ``serving`` the one every handler wired to ``registry`` uses (``build_studio`` calls it)."""
    global _BY_REGISTRY
    if _BY_REGISTRY is None:
        _BY_REGISTRY = weakref.WeakKeyDictionary()
    _BY_REGISTRY[registry] = serving
    return serving


def serving_of(registry) -> Serving:
    """The Serving attached to ``registry``; one with the default settings is attached on first use."""
    if _BY_REGISTRY is not None and registry in _BY_REGISTRY:
        return _BY_REGISTRY[registry]
    from studio.config import Settings

    return attach(registry, Serving.from_settings(Settings(), str(getattr(registry, "device", "cpu"))))
