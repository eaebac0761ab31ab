"""Batching across users: requests that can share a forward pass run as one batch (``Batcher``), and the engines'
batchable calls (``shared``) join the studio's batches when a handler runs inside :func:`sharing` (the tabs'
wiring, ``wired(..., batched=True)``); they run directly otherwise (notebooks, tests, the evaluation harness).

Only calls whose rows are independent are shared: a GAN generator or a VAE decoder in eval mode maps each latent
to its image whatever else is in the batch (no batch statistics), so a user's slice of a shared batch is what
they would have got alone, to float rounding (tests/test_serving.py checks it). The diffusion and text engines
batch whole runs the same way (``diffusion.engine.iterate_many``, ``text.batched.stream_many``).
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator

from studio.serving.gate import current_owner

_END = object()


class Last:
    """A row's last output: ``run`` yields ``Last(out)`` for a request that is done (a text that reached its end),
    and the request gets ``out`` and its end at once, not when the longest row of its batch ends."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Item:
    def __init__(self, payload, rows: int, owner):
        self.payload, self.rows, self.owner = payload, rows, owner
        self.out: queue.Queue = queue.Queue()
        self.cancelled = False  # its consumer left (Stop, a closed page)
        self.ended = False  # its end (or its error) was put
        self.given = 0  # outputs put so far


class _Group:
    def __init__(self, key):
        self.key = key
        self.items: list[_Item] = []
        self.owners: list = []  # the visitors waiting on it: the compute gate ranks the batch by them
        self.rows = 0
        self.open = True


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    largest: int = 0  # most requests in one batch
    retried_alone: int = 0  # requests of a failed batch run again on their own


def takes_live(run) -> bool:
    """Whether ``run`` takes the batch's live rows as a second argument (``run(payloads, live)``)."""
    try:
        params = [p for p in inspect.signature(run).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


class Batcher:
    """Runs requests that can share a forward pass together.

    ``gate``: the studio's ``serving.ComputeGate``. ``submit(key, payload, rows, run)`` returns this request's
    outputs. Requests with the same ``key`` join one group while it waits: for ``window_s`` after the first
    arrives, and then for as long as the compute gate is busy with something else. The group then runs
    ``run(payloads)`` in a thread of its own: an iterator that yields, per step, one output per payload (in order;
    None where a payload has nothing this step; ``Last(out)`` for a payload's last output, which ends that
    request at once). Each step runs holding the compute gate and gives it back before the next (the gate is
    fair between visitors: another user's request goes between two steps of a batch). A ``run`` that takes a
    second argument gets ``live(i)``: False once request i's consumer left, so its row can leave the batch
    (a Stop, a closed page: not computed for any longer). A group takes at most ``max_rows`` rows in all.

    One request's failure is its own: when a batch of several fails, each of its requests that had not ended is
    run again alone, its outputs already given skipped (a batched run is deterministic), so only the one whose
    input fails hears of the error. ``enabled=False``: every request runs alone, at once (the same code path, a
    batch of one). ``newest=True`` (a stream of previews): a request whose consumer (Gradio, encoding and sending
    each frame) falls behind the batch skips to the newest output waiting; the last one is always delivered.
    """

    def __init__(self, gate, *, window_s: float = 0.015, max_rows: int = 64, enabled: bool = True):
        self.gate, self.window_s, self.max_rows, self.enabled = gate, window_s, max_rows, enabled
        self._open: dict = {}
        self._lock = threading.Lock()
        self.stats = BatchStats()

    def submit(self, key, payload, rows: int, run: Callable[..., Iterator[list]],
               max_rows: int | None = None, newest: bool = False) -> Iterator:
        item = _Item(payload, rows, current_owner())
        limit = max_rows or self.max_rows
        if not self.enabled:
            group = _Group(key)
            group.items.append(item)
            group.owners.append(item.owner)
            thread = threading.Thread(target=self._run_group, args=(group, run, 0.0), daemon=True,
                                      name="studio-batch")
        else:
            thread = None
            with self._lock:
                group = self._open.get(key)
                if group is None or not group.open or group.rows + rows > limit:
                    group = self._open[key] = _Group(key)
                    thread = threading.Thread(target=self._run_group, args=(group, run, self.window_s), daemon=True,
                                              name="studio-batch")
                group.items.append(item)
                group.owners.append(item.owner)
                group.rows += rows
        if thread is not None:
            thread.start()
        try:
            while (out := item.out.get()) is not _END:
                if isinstance(out, BaseException):
                    raise out
                while newest and item.out.qsize():  # behind the computation: skip to its newest output
                    following = item.out.queue[0]  # (one consumer: what it peeks at stays first)
                    if following is _END or isinstance(following, BaseException):
                        break
                    out = item.out.get_nowait()
                yield out
        finally:
            item.cancelled = True  # a consumer that left (Stop, closed page) is not computed for any longer

    def _count(self, n: int) -> None:
        with self._lock:
            self.stats.batches += 1
            self.stats.requests += n
            self.stats.largest = max(self.stats.largest, n)

    def _run_group(self, group: _Group, run, window_s: float) -> None:
        time.sleep(window_s)
        hold = self.gate.acquire(group.owners)  # the group fills while the machine is busy
        with self._lock:
            group.open = False
            if self._open.get(group.key) is group:
                del self._open[group.key]
            items = list(group.items)
        self._count(len(items))
        try:
            self._steps(items, run, hold)
        except BaseException as err:  # noqa: BLE001 - see below: each request hears of its own failure only
            hold = None
            pending = [it for it in items if not it.ended and not it.cancelled]
            if len(items) == 1 or not pending:
                for it in pending:
                    it.ended = True
                    it.out.put(err)
                return
            for it in pending:  # run again alone: the failure belongs to the request(s) it fails again for
                with self._lock:
                    self.stats.retried_alone += 1
                skip = it.given
                it.given = 0
                try:
                    self._steps([it], run, None, skip=skip)
                except BaseException as own:  # noqa: BLE001 - this request's own failure
                    if not it.ended:
                        it.ended = True
                        it.out.put(own)
        finally:
            for it in items:
                if not it.ended:
                    it.ended = True
                    it.out.put(_END)

    def _steps(self, items: list[_Item], run, hold, skip: int = 0) -> None:
        """Run ``items`` as one batch, a step at a time with the gate held (``hold``: the first step's, taken);
        ``skip``: outputs the (single) item was given already."""
        payloads = [it.payload for it in items]
        try:
            steps = run(payloads, lambda i: not items[i].cancelled) if takes_live(run) else run(payloads)
        except BaseException:
            if hold is not None:
                self.gate.release(hold)
            raise
        try:
            while True:
                if hold is None:
                    hold = self.gate.acquire([it.owner for it in items])
                try:
                    outs = next(steps, _END)
                finally:
                    self.gate.release(hold)
                    hold = None
                if outs is _END:
                    return
                for it, out in zip(items, outs):
                    if out is None or it.ended:  # None: nothing for this request this step
                        continue
                    last = isinstance(out, Last)
                    value = out.value if last else out
                    if skip:
                        skip -= 1
                    elif not it.cancelled:
                        it.out.put(value)
                        it.given += 1
                    if last:
                        it.ended = True
                        it.out.put(_END)
                if all(it.cancelled or it.ended for it in items):
                    return
        finally:
            if hold is not None:
                self.gate.release(hold)
            close = getattr(steps, "close", None)
            if close is not None:
                close()


# --- the engines' batchable calls -----------------------------------------------------------------------------

_BATCHER: ContextVar = ContextVar("studio_batcher", default=None)


@contextmanager
def sharing(batcher):
    """Within this block (one handler's call), :func:`shared` calls join ``batcher``'s batches."""
    token = _BATCHER.set(batcher)
    try:
        yield batcher
    finally:
        _BATCHER.reset(token)


def current():
    return _BATCHER.get()


def concat_call(fn: Callable, payloads: list[tuple]) -> list:
    """``fn`` on the row-wise concatenation of several callers' tensors, its output(s) split back per caller."""
    import torch

    sizes = [p[0].shape[0] for p in payloads]
    columns = [torch.cat([p[i] for p in payloads]) for i in range(len(payloads[0]))]
    with torch.no_grad():  # the batch runs in a thread of its own: the caller's no_grad does not reach it
        out = fn(*columns)
    if isinstance(out, tuple):
        parts = [o.split(sizes) for o in out]
        return [tuple(part[j] for part in parts) for j in range(len(payloads))]
    return list(out.split(sizes))


def shared(name: str, module, fn: Callable, *tensors):
    """``fn(*tensors)``, rows first (each tensor's dim 0), as one row block of a batch shared with other users'
    calls of the same ``name`` on the same ``module``; directly when no batcher is in use."""
    batcher = current()
    if batcher is None:
        return fn(*tensors)

    def run(payloads):
        yield concat_call(fn, payloads)

    outs = list(batcher.submit((name, id(module)), tensors, int(tensors[0].shape[0]), run, max_rows=512))
    return outs[0]
