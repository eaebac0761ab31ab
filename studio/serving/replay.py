"""Replay: identical requests (same handler, every argument, same seed, the same weights, the same page language) are
computed once; everyone else who asks gets a copy, a stream replayed as a stream.

Why our own rather than Gradio's ``gr.cache``: on a hit ``gr.cache`` hands back the very objects it stored, so thirty
sessions would share one run dict in their ``gr.State`` (a branch in one would act on another's run) and one
matplotlib figure drawn by several threads at once; it keys on the arguments only (a model reloaded from other
weights would replay stale results) and it does not let a request that arrives while the first is still computing
follow it. Here an entry is kept *pickled* (each user unpickles a copy of their own; its size is the measure of
memory), and a request that arrives while the same recipe is being computed follows that computation live instead
of starting its own.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger("studio.serving")

PLAIN = (str, int, float, bool, type(None))
WEIGHT_SUFFIXES = {".safetensors", ".json", ".txt", ".model", ".bin"}


# --- what identifies the weights ------------------------------------------------------------------------------

def folder_fingerprint(folder) -> str:
    """16 hex digits that change when any weight or config file in ``folder`` changes (path, name, size and
    modification time of each; a Hub snapshot's path holds its commit). Cheap: stat calls, no reading."""
    from studio.loading import model_files

    folder = Path(folder).resolve()
    h = hashlib.sha256(str(folder).encode())
    for path in model_files(folder, WEIGHT_SUFFIXES):
        st = path.stat()
        h.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


# --- replay ---------------------------------------------------------------------------------------------------

class Recording:
    """One computation's outputs, pickled, in order, each with its index in the computation's stream (not every
    output is recorded, see :attr:`ReplayCache.record_every_s`); followers read them while they are still being
    made."""

    def __init__(self, budget: int | None = None):
        self.frames: list[bytes] = []
        self.index: list[int] = []  # frames[i] is output number index[i] of the computation
        self.nbytes = 0
        self.budget = budget  # the most bytes kept while it runs (a long stream is thinned as it goes)
        self.state = "running"  # running | done | failed
        self.cond = threading.Condition()

    def add(self, j: int, blob: bytes) -> None:
        with self.cond:
            self.frames.append(blob)
            self.index.append(j)
            self.nbytes += len(blob)
            # bounded while it runs: every second in-between frame goes (followers read the newest; the first and the
            # newest stay), down to those two when one frame alone is over the budget
            while self.budget is not None and self.nbytes > self.budget and len(self.frames) > 2:
                keep = [0, *range(2, len(self.frames) - 1, 2), len(self.frames) - 1]
                self.frames = [self.frames[i] for i in keep]
                self.index = [self.index[i] for i in keep]
                self.nbytes = sum(map(len, self.frames))
            self.cond.notify_all()

    def finish(self, state: str) -> None:
        with self.cond:
            self.state = state
            self.cond.notify_all()

    def newest(self, after: int) -> tuple[int, bytes | None]:
        """The newest recorded frame once there is one of output number ≥ ``after``, with that number: a follower
        that fell behind skips to it (each frame a user is sent costs the server its encoding); while the
        computation runs, its last recorded frame is always sent. (after, None) when the recording ended without
        one (done or failed: see state)."""
        with self.cond:
            while (not self.index or self.index[-1] < after) and self.state == "running":
                self.cond.wait(1.0)
            if not self.index or self.index[-1] < after:
                return after, None
            return self.index[-1], self.frames[-1]


REPLAY_FRAMES = 8  # a replay streams at most this many frames, evenly spaced, the last always among them


def spaced(frames: list, n: int) -> list:
    """At most ``n`` of ``frames``, evenly spaced, the first and the last kept. A replay is a stream still (the
    run unfolds on screen), but the 50 previews of a long run, each encoded and sent to every one of thirty
    users, were most of the server's work for a projected link (benchmarks/classroom.py)."""
    if len(frames) <= n:
        return list(frames)
    step = (len(frames) - 1) / (n - 1)
    return [frames[round(k * step)] for k in range(n)]


def thin(frames: list[bytes], budget: int) -> list[bytes] | None:
    """The frames of a stream within ``budget`` bytes: every second in-between frame dropped until they fit (the
    first and the last always kept, so a replay still streams, more coarsely, and ends where the run ended);
    None when even those two do not fit."""
    frames = list(frames)
    while sum(map(len, frames)) > budget:
        if len(frames) <= 2:
            return None
        frames = [frames[0], *frames[1:-1][1::2], frames[-1]]
    return frames


@dataclass
class ReplayStats:
    hits: int = 0  # answered from a finished recording
    follows: int = 0  # answered by following a computation that was still running
    misses: int = 0  # computed
    bypassed: int = 0  # not replayable (a random seed, an argument that is not plain data, weights unknown)
    stored: int = 0
    evicted: int = 0
    too_big: int = 0
    extra: dict = field(default_factory=dict)


RECORD_EVERY_S = 0.25  # a stream's outputs are recorded (pickled) at most this often, its first and last always


class ReplayCache:
    """Finished recordings by recipe key, least recently used evicted beyond ``max_entries`` or ``max_bytes``;
    one recording may take at most ``max_bytes // 4`` (a longer stream is thinned to fit, see :func:`thin`).

    ``record_every_s``: a stream's outputs are recorded at most this often (its first and its last always). A
    copy costs the server a pickling, and every follower of a live run is sent each recorded frame (each encoded
    for it by Gradio): recording all 60 frames of a text stream, or all 20 previews of a diffusion run, for every
    request, was most of what replay cost when nothing was replayed, and thirty followers each sent every frame
    slowed the run they followed threefold (benchmarks/classroom.py). Four frames a second still streams."""

    def __init__(self, *, max_entries: int = 512, max_bytes: int = 64 << 20, enabled: bool = True,
                 record_every_s: float = RECORD_EVERY_S):
        self.max_entries, self.max_bytes, self.enabled = max_entries, max_bytes, enabled
        self.record_every_s = record_every_s
        self._done: OrderedDict[str, list[bytes]] = OrderedDict()
        self._running: dict[str, Recording] = {}
        self._lock = threading.Lock()
        self.nbytes = 0
        self.stats = ReplayStats()

    def __len__(self) -> int:
        return len(self._done)

    def clear(self) -> None:
        with self._lock:
            self._done.clear()
            self.nbytes = 0

    def _store(self, key: str, frames: list[bytes]) -> None:
        kept = thin(spaced(frames, REPLAY_FRAMES), self.max_bytes // 4)  # only what a replay will stream
        with self._lock:
            if kept is None:
                self.stats.too_big += 1
                return
            if key in self._done:
                self.nbytes -= sum(map(len, self._done.pop(key)))
            self._done[key] = kept
            self.nbytes += sum(map(len, kept))
            self.stats.stored += 1
            while self._done and (len(self._done) > self.max_entries or self.nbytes > self.max_bytes):
                _, old = self._done.popitem(last=False)
                self.nbytes -= sum(map(len, old))
                self.stats.evicted += 1

    def play(self, key: str | None, compute: Callable[[], Iterator]) -> Iterator:
        """The outputs of ``compute()`` (an iterator), replayed when ``key`` was computed before, followed live
        when it is being computed now, else computed and recorded. ``key`` None: computed, nothing kept."""
        if key is None or not self.enabled:
            with self._lock:
                self.stats.bypassed += 1
            yield from compute()
            return
        given = 0  # outputs (by their number in the computation) this caller has had, or skipped past
        while True:
            with self._lock:
                done, running, lead = self._done.get(key), None, None
                if done is not None:
                    self._done.move_to_end(key)
                    self.stats.hits += 1
                else:
                    running = self._running.get(key)
                    if running is None:
                        lead = self._running[key] = Recording(budget=self.max_bytes // 4)
                        self.stats.misses += 1
                    else:
                        self.stats.follows += 1
            if done is not None:  # (a follower whose computation stopped and was stored meanwhile gets its last)
                for blob in (done[-1:] if given else spaced(done, REPLAY_FRAMES)):
                    yield pickle.loads(blob)
                return
            if lead is not None:
                for j, out in enumerate(self._record(key, lead, compute)):
                    if j >= given:
                        yield out
                return
            while True:
                index, blob = running.newest(given)
                if blob is None:
                    break
                yield pickle.loads(blob)
                given = index + 1
            if running.state == "done":
                return
            # the computation followed failed or was stopped by its own user: take it over (or follow whoever
            # did); a replayable handler is deterministic, so its first outputs are the ones already given

    def _record(self, key: str, rec: Recording, compute) -> Iterator:
        state, last_at, pending = "failed", float("-inf"), None

        def add(j, out):
            try:
                rec.add(j, pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
            except Exception as err:  # noqa: BLE001 - an output that cannot be copied is not replayed
                log.warning("replay: an output cannot be pickled (%s: %s); this run is not kept",
                            type(err).__name__, err)
                rec.finish("failed")  # followers compute their own

        try:
            for j, out in enumerate(compute()):
                if rec.state == "running":
                    now = time.monotonic()
                    if now - last_at >= self.record_every_s:
                        add(j, out)
                        last_at, pending = now, None
                    else:
                        pending = (j, out)  # recorded if it turns out to be the last
                yield out
            if pending is not None and rec.state == "running":  # the last output is always recorded
                add(*pending)
            state = "done"
        finally:
            with self._lock:
                if self._running.get(key) is rec:
                    self._running.pop(key, None)
            if rec.state == "running":
                rec.finish(state)
                if state == "done":
                    self._store(key, rec.frames)


def plain(value) -> bool:
    """A value a recipe key can hold: None, bool, number, str, or a list / tuple / dict of those."""
    if isinstance(value, PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    return False


def recipe_key(name: str, bound: dict, extra: tuple = ()) -> str | None:
    """The key of a call: its handler's name, every argument (defaults applied) and ``extra`` (the weights'
    fingerprints, the page's language); None — not replayable — when an argument is not plain data or a seed
    asks for a fresh draw (None or negative)."""
    for k, v in bound.items():
        if not plain(v):
            return None
        if k == "seed" or k.startswith("seed_"):
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0):
                return None
    text = repr((name, sorted(bound.items()), extra))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
