"""The compute gate: how many model computations run at once on this machine, and who goes next.

Plain Python (no Gradio, no torch). The tabs' wiring (``studio.ui.common.wired``) holds it around a handler's
computation, the batcher (``studio.serving.batcher``) around each step of a batch, and the engines' long loops call
:func:`interleave` between their steps, so that no request keeps the machine from the others for more than a short
slice of work (:data:`SLICE_S`).
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

# --- the machine ----------------------------------------------------------------------------------------------

def cpu_cores() -> int:
    """CPU cores this process may use (its affinity, where the OS says; else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def compute_slots(device: str, cores: int | None = None) -> int:
    """How many model computations run at once on ``device``.

    * CUDA: 2 per GPU. The GPU runs one kernel stream at a time anyway (batching is what fills it); a second
      slot lets one request's CPU side (noise, PNG encoding, pickling a replay) overlap another's kernels.
    * MPS: 1 (one GPU, unified memory shared with the CPU side).
    * CPU: one per 4 cores (at least 1), each with ``cores // slots`` intra-op threads: a forward pass of these
      small models already uses every thread PyTorch gives it, so two passes on 2 cores only split the cores
      (each twice as slow) and double the memory in use; on 16 cores, 4 passes of 4 threads each scale better
      than one of 16 (measured by PyTorch's own guidance: small matmuls stop scaling past a few threads).
    """
    cores = cores or cpu_cores()
    kind = str(device).split(":")[0]
    if kind == "cuda":
        return 2
    if kind == "mps":
        return 1
    return max(1, cores // 4)


WORKERS_PER_SLOT = 32


def workers_for(slots: int) -> int:
    """Heavy requests Gradio lets into their handlers at once: 32 per compute slot (at least 32), a class. The
    ones beyond the slots wait inside, where a replay can answer them at once and a batch can take them along
    (a waiting request is a blocked thread, nothing more); the rest wait in Gradio's queue, which shows them
    their place but can batch nothing. With 8 a slot, thirty students' requests reached the batcher eight at a
    time, spread over three tabs: batches of two or three, and 42 requests in 45 s against 61 with 32
    (benchmarks/classroom.py's own-work part, 2 CPU cores)."""
    return max(WORKERS_PER_SLOT, WORKERS_PER_SLOT * slots)


# Who is asking: the visitor (a browser session, an API client) a computation is for. Set by the tabs' wiring
# (studio.ui.common.wired) around each step of a handler; the gate charges the time a slot was held to them.
_OWNER: ContextVar = ContextVar("studio_owner", default=None)
HALF_LIFE_S = 20.0  # a visitor's past use of the gate counts half after this long (the fair gate's memory)
SLICE_S = 0.25  # the most work one request should do holding a slot before it gives the slot back


@contextmanager
def owned_by(owner):
    """Within this block, computations are for ``owner`` (any hashable; None: the thread)."""
    token = _OWNER.set(owner)
    try:
        yield owner
    finally:
        _OWNER.reset(token)


def current_owner():
    """The visitor this thread computes for: set by :func:`owned_by`, else the thread itself."""
    owner = _OWNER.get()
    return owner if owner is not None else ("thread", threading.get_ident())


_HOLDING = threading.local()  # .gate: the gate this thread holds a slot of, if any


def interleave(slice_s: float = SLICE_S) -> bool:
    """A point between two steps of a long computation where other users' work may go first: the thread gives its
    compute-gate slot to a waiting request once it has held it for ``slice_s`` (:meth:`ComputeGate.breathe`).
    Engines call it once per step of their loops; outside a served request (a test, a notebook) it does nothing."""
    gate = getattr(_HOLDING, "gate", None)
    return gate.breathe(slice_s) if gate is not None else False


class _Waiter:
    __slots__ = ("owners", "ticket", "granted", "background", "since")

    def __init__(self, owners, ticket, background, since):
        self.owners, self.ticket, self.granted = owners, ticket, False
        self.background, self.since = background, since


BACKGROUND_WAIT_S = 2.0  # a background computation that has waited this long is served as an interactive one


class ComputeGate:
    """At most ``slots`` computations at once, given out fairly.

    * **Interactive before background.** A request a student waits for (a Generate, a diffusion run, a grid) goes
      before *background* work — training in the Lab, which runs for minutes — and takes the slot from it at the
      training's next step (:meth:`breathe`). Background work that has waited :data:`BACKGROUND_WAIT_S` is served
      as interactive, so a Play never stops however busy the class is.
    * **Least used first.** Among equals, the slot goes to the waiter whose visitor has used the gate least lately
      (each visitor's held seconds, halving every ``half_life_s``), first come first served among those: a
      student who has not computed in a while goes before one who just did.
    * **Short slices.** A computation holds a slot for a short slice of work at a time — a step (:meth:`sliced`,
      ``held`` for a stream, the batcher's steps), or :data:`SLICE_S` of a long loop that calls :func:`interleave`
      between its steps — and then asks again: the slot is never kept while a frame is sent to a browser, and the
      choice is made again at every slice. A slot is handed straight to the chosen waiter, so one that gives its
      slot back and asks again at once queues behind those already waiting.

    ``owners`` (``acquire``): the visitors a computation serves (a batch serves several: it is ranked by the one
    who used least, and each is charged an equal share). Default: :func:`current_owner`. ``background``: see above.
    """

    def __init__(self, slots: int = 1, *, half_life_s: float = HALF_LIFE_S, clock: Callable[[], float] = time.monotonic):
        self.slots, self.half_life_s, self.clock = slots, half_life_s, clock
        self._cond = threading.Condition(threading.Lock())
        self._waiting: list[_Waiter] = []
        self._tickets = 0
        self._used: dict = {}  # owner -> (seconds, at)
        self.busy = 0
        self.peak = 0
        self.longest_hold = 0.0  # the longest a slot was held at once (seconds)
        self._local = threading.local()  # per thread: how deep in holds it is, and its hold

    # -- accounting ----------------------------------------------------------------------------------------
    def used(self, owner, now: float | None = None) -> float:
        """``owner``'s recent use of the gate, in seconds, each past second counting half per ``half_life_s``."""
        seconds, at = self._used.get(owner, (0.0, 0.0))
        now = self.clock() if now is None else now
        return seconds * 0.5 ** (max(0.0, now - at) / self.half_life_s)

    def _charge(self, owners, seconds: float) -> None:
        now = self.clock()
        share = seconds / max(1, len(owners))
        for owner in owners:
            self._used[owner] = (self.used(owner, now) + share, now)
        if len(self._used) > 4096:  # forget the visitors whose use has faded
            for owner in [o for o in self._used if self.used(o, now) < 1e-3]:
                del self._used[owner]

    def _class(self, background: bool, since: float, now: float) -> int:
        return 1 if background and now - since < BACKGROUND_WAIT_S else 0

    def _rank(self, waiter: _Waiter, now: float) -> tuple:
        return (self._class(waiter.background, waiter.since, now), min(self.used(o, now) for o in waiter.owners),
                waiter.ticket)

    # -- holding -------------------------------------------------------------------------------------------
    def acquire(self, owners=None, *, background: bool = False):
        """Wait for a slot; returns the hold to pass to :meth:`release`. A thread that holds a slot already (a
        handler whose engine asks again) is let through on the slot it has: a second slot would deadlock a
        one-slot gate."""
        local = self._local
        if getattr(local, "depth", 0):
            local.depth += 1
            return None
        owners = owners if owners else (current_owner(),)  # (a list may grow while it waits: a batch filling)
        local.hold = self._take(owners, background)
        local.depth = 1
        _HOLDING.gate = self
        return local.hold

    def _take(self, owners, background: bool, since: float | None = None) -> list:
        with self._cond:
            if self.busy < self.slots and not self._waiting:
                self.busy += 1
            else:
                self._tickets += 1
                me = _Waiter(owners, self._tickets, background, self.clock() if since is None else since)
                self._waiting.append(me)
                while not me.granted:
                    self._cond.wait()
            self.peak = max(self.peak, self.busy)
        return [owners, self.clock(), background]

    def _give(self, hold: list) -> None:
        owners, since, _ = hold
        with self._cond:
            owners = tuple(owners)
            held = self.clock() - since
            self.longest_hold = max(self.longest_hold, held)
            self._charge(owners, held)
            if self._waiting:  # the slot goes straight to the waiter ranked first
                now = self.clock()
                best = min(self._waiting, key=lambda w: self._rank(w, now))
                self._waiting.remove(best)
                best.granted = True
                self._cond.notify_all()
            else:
                self.busy -= 1

    def release(self, hold=None) -> None:
        local = self._local
        local.depth -= 1
        if local.depth:  # a nested hold: the slot stays with the outer one
            return
        self._give(local.hold)
        local.hold = None
        _HOLDING.gate = None

    def breathe(self, slice_s: float = SLICE_S) -> bool:
        """Called inside a long computation between two of its steps (a UNet call, a training step): give the slot
        to the waiter the gate ranks first, and wait for it back — at once when that waiter outranks this hold
        (interactive work waiting on background work, or a visitor who has used the gate a slice less than this
        one, this hold so far counted), and after ``slice_s`` of holding for an equal (turns among six Plays,
        without handing the slot round at every step). True when it gave it."""
        local = self._local
        hold = getattr(local, "hold", None)
        if not getattr(local, "depth", 0) or hold is None or not self._waiting:
            return False
        owners, since, background = hold
        with self._cond:
            if not self._waiting:
                return False
            now = self.clock()
            mine = (1 if background else 0,
                    min(self.used(o, now) for o in owners) + (now - since) / max(1, len(owners)))
            first = min(self._rank(w, now)[:2] for w in self._waiting)
            outranked = first[0] < mine[0] or (first[0] == mine[0] and first[1] + SLICE_S < mine[1])
            if not outranked and now - since < slice_s:
                return False
        self._give(hold)
        local.hold = self._take(owners, background)
        return True

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    @contextmanager
    def hold(self, owners=None, *, background: bool = False):
        """A slot held for the block, for ``owners``."""
        h = self.acquire(owners, background=background)
        try:
            yield self
        finally:
            self.release(h)

    def waiting(self) -> int:
        """How many computations wait for a slot now."""
        with self._cond:
            return len(self._waiting)

    def sliced(self, steps: Iterator, owners=None) -> Iterator:
        """``steps`` (an iterator) advanced one item at a time with a slot held, the slot given back while the
        caller handles each item; closed with it."""
        try:
            while True:
                with self.hold(owners):
                    try:
                        item = next(steps)
                    except StopIteration:
                        return
                yield item
        finally:
            close = getattr(steps, "close", None)
            if close is not None:
                close()

    def held(self, fn: Callable) -> Callable:
        """``fn`` run with a slot held: a function for its call (it must be a short one), a generator function
        a step at a time (:meth:`sliced`), the slot given back at each of its yields."""
        import functools

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args, **kwargs):
                yield from self.sliced(fn(*args, **kwargs))
            return gen

        @functools.wraps(fn)
        def call(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return call
