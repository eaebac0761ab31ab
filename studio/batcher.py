"""Batching across users: requests that can share a forward pass run as one batch (``Batcher``), and the engines'
batchable calls (``shared``) join the studio's batches when a handler runs inside :func:`sharing` (the tabs'
wiring, ``wired(..., batched=True)``); they run directly otherwise (notebooks, tests, the evaluation harness).

Only calls whose rows are independent are shared: a GAN generator or a VAE decoder in eval mode maps each latent
to its image whatever else is in the batch (no batch statistics), so a user's slice of a shared batch is what
they would have got alone, to float rounding (tests/test_serving.py checks it). The diffusion and text engines
batch whole runs the same way (``diffusion.engine.iterate_many``, ``text.batched.stream_many``).
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Callable, Iterator

_END = object()


class _Item:
    def __init__(self, payload, rows: int):
        self.payload, self.rows = payload, rows
        self.out: queue.Queue = queue.Queue()
        self.cancelled = False


class _Group:
    def __init__(self, key):
        self.key = key
        self.items: list[_Item] = []
        self.rows = 0
        self.open = True


@dataclass
class BatchStats:
    batches: int = 0
    requests: int = 0
    largest: int = 0  # most requests in one batch


class Batcher:
    """Runs requests that can share a forward pass together.

    ``gate``: the studio's ``serving.ComputeGate``. ``submit(key, payload, rows, run)`` returns this request's
    outputs. Requests with the same ``key`` join one group while it waits: for ``window_s`` after the first
    arrives, and then for as long as the compute gate is busy with something else. The group then runs
    ``run(payloads)`` once, in a thread of its own holding the gate: an iterator that yields, per step, one
    output per payload (in order; None where a payload has nothing this step, e.g. a text that already ended);
    each request's outputs are streamed to it as they come. A group takes at most ``max_rows`` rows (images,
    sequences) in all. ``enabled=False``: every request runs alone, at once (the same code path, a batch of one).
    ``newest=True`` (a stream of previews): a request whose consumer (Gradio, encoding and sending each frame)
    falls behind the batch skips to the newest output waiting; the last one is always delivered.
    """

    def __init__(self, gate, *, window_s: float = 0.015, max_rows: int = 64, enabled: bool = True):
        self.gate, self.window_s, self.max_rows, self.enabled = gate, window_s, max_rows, enabled
        self._open: dict = {}
        self._lock = threading.Lock()
        self.stats = BatchStats()

    def submit(self, key, payload, rows: int, run: Callable[[list], Iterator[list]],
               max_rows: int | None = None, newest: bool = False) -> Iterator:
        item = _Item(payload, rows)
        limit = max_rows or self.max_rows
        if not self.enabled:
            with self.gate:
                self._count(1)
                for outs in run([payload]):
                    yield outs[0]
            return
        with self._lock:
            group = self._open.get(key)
            if group is None or not group.open or group.rows + rows > limit:
                group = self._open[key] = _Group(key)
                threading.Thread(target=self._run_group, args=(group, run), daemon=True,
                                 name="studio-batch").start()
            group.items.append(item)
            group.rows += rows
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

    def _run_group(self, group: _Group, run) -> None:
        time.sleep(self.window_s)
        with self.gate:
            with self._lock:
                group.open = False
                if self._open.get(group.key) is group:
                    del self._open[group.key]
                items = list(group.items)
            self._count(len(items))
            try:
                for outs in run([it.payload for it in items]):
                    for it, out in zip(items, outs):
                        if out is not None and not it.cancelled:  # None: nothing for this request this step
                            it.out.put(out)
                    if all(it.cancelled for it in items):
                        break
                for it in items:
                    it.out.put(_END)
            except BaseException as err:  # noqa: BLE001 - every request of the batch hears of the failure
                for it in items:
                    it.out.put(err)



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
