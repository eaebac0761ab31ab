"""The request pipeline: how a tab's handler becomes what its event calls (``wired``).

``bind`` binds the tab's context; ``user_errors`` turns what goes wrong into a clear ``gr.Error``; the compute gate
(studio/serving/gate.py) is held here and nowhere else in the tabs (``gpu=True``: a function for its call, a stream a
step at a time), after the models the call names are loaded (``loaded_first``: a first use or a Hub download never
holds the gate); the batcher's shared forward passes (``batched=True``); the replay cache (``replay=True``); and
every call runs for the visitor who asked (``visited``: studio.hosting, and the fair gate's accounting).
"""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from studio.errors import StudioError

log = logging.getLogger("studio")
HEAVY = "gpu"  # concurrency_id shared by every event that runs a model
ERROR_SECONDS = 30  # an error toast closes by itself after this long (and when the user opens another tab)


def user_errors(fn):
    """Show ``StudioError`` / ``ValueError`` messages to the user as ``gr.Error``; log anything else.

    An unexpected exception still becomes a ``gr.Error`` that names what failed, so the user never sees a
    bare "Error" and the server keeps serving.
    """

    def convert(err: Exception) -> gr.Error:
        if isinstance(err, gr.Error):
            return err
        if is_out_of_memory(err):
            free_memory()
            log.warning("out of memory in %s: %s", fn.__name__, err)
            return gr.Error(f"{fn.__name__} ran out of memory ({type(err).__name__}). Try a smaller batch, grid or "
                            f"fewer steps or tokens; cached memory was freed and the other tabs keep working.",
                            print_exception=False, duration=ERROR_SECONDS)
        if isinstance(err, (StudioError, ValueError)):
            return gr.Error(str(err), print_exception=False, duration=ERROR_SECONDS)
        log.exception("unexpected error in %s", fn.__name__)
        return gr.Error(f"{fn.__name__} failed: {type(err).__name__}: {err}", print_exception=False, duration=ERROR_SECONDS)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:
                raise convert(err) from err
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            raise convert(err) from err
    return wrapper


def is_out_of_memory(err: Exception) -> bool:
    """CUDA's OutOfMemoryError, or the CPU allocator's "can't allocate memory" / MPS's "out of memory"."""
    import torch

    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def require_host(registry, what: str) -> None:
    """Refuse ``what`` unless this request is the host's (studio.hosting; always the host's when not hosted)."""
    from studio.serving import serving_of

    serving_of(registry).host.require_host(what)


def bind(fn, ctx, **defaults):
    """``fn(ctx, ...)`` as Gradio calls it: ``ctx`` (a tab's registry, limits and defaults) bound; the signature
    and docstring are ``fn``'s without it, with ``defaults`` (e.g. the tab's model) as the defaults the API
    page shows and a client fills in. ``ctx`` is never an argument of the call Gradio (or ZeroGPU's
    ``spaces.GPU``, which pickles its arguments) sees."""
    sig = inspect.signature(fn)
    params = list(sig.parameters.values())
    if not params or params[0].name != "ctx":
        raise TypeError(f"{fn.__name__} takes the tab's context as its first argument, ctx")
    params = [p.replace(default=defaults[p.name]) if p.name in defaults else p for p in params[1:]]
    if inspect.isgeneratorfunction(fn):
        def handler(*args, **kwargs):
            yield from fn(ctx, *args, **kwargs)
    else:
        def handler(*args, **kwargs):
            return fn(ctx, *args, **kwargs)
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(handler, attr, getattr(fn, attr))
    handler.__signature__ = sig.replace(parameters=params)
    # Gradio finds gr.SelectData / gr.Request parameters by their type hints: the annotations without ctx, read in
    # fn's module (typing.get_type_hints follows __wrapped__ for the names; inspect stops at __signature__)
    handler.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != "ctx"}
    handler.__wrapped__ = fn
    return handler


def wired(fn, ctx=None, *, gpu: bool = False, replay: bool = False, batched: bool = False, **defaults):
    """A tab's handler as its event calls it: bound to ``ctx`` when it takes one (its ``model`` defaulting to the
    tab's, ``ctx.default_model``, and any other ``defaults`` that depend on the settings), its errors shown to the
    user (``user_errors``), and on ZeroGPU given a GPU for the call (``gpu``).

    ``gpu``: it runs a model, so it holds a slot of the compute gate (studio/serving/gate.py) while it computes —
    unless ``batched``: it hands its forward passes to the studio's batcher, which holds the gate for the batch.
    ``replay``: identical calls (every argument, a fixed seed, the same weights, the same page language) are
    computed once and replayed (``serving.ReplayCache``); only for handlers whose result depends on nothing else.
    """
    from studio.spaces_compat import GPU

    params = inspect.signature(fn).parameters
    if next(iter(params), None) == "ctx":
        if "model" in params and params["model"].default is not inspect.Parameter.empty:
            defaults.setdefault("model", ctx.default_model)
        fn = bind(fn, ctx, **defaults)
    h = fn
    if (gpu or replay) and ctx is not None:
        from studio.serving import serving_of

        serving = serving_of(ctx.registry)
        if gpu and not batched:
            h = loaded_first(serving.gate.held(h), ctx)
        elif batched and not inspect.isgeneratorfunction(h):  # a stream asks serving_of(...).batcher itself
            h = sharing_batches(h, serving.batcher)
        if replay:
            h = replayed(h, ctx, serving)
    h = user_errors(h)
    return visited(GPU(h) if gpu else h)


def request_now():
    """The ``gr.Request`` of the event being handled: Gradio records it for each call of a handler (and each step
    of a stream) in ``gradio.context.LocalContext.request``; None outside an event (a test, a notebook)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def visited(fn):
    """``fn`` with each call (each step of a stream, which Gradio may resume on another of its threads) run for the
    request it answers: the visitor recorded (studio.hosting: who may do the host's actions) and owning its
    computations (studio.serving: the fair compute gate charges them). Its signature is ``fn``'s. Called directly
    (a test, a notebook), there is no request: the caller is the host."""
    from studio.hosting import Visitor, visiting
    from studio.serving import owned_by

    def context():
        request = request_now()
        visitor = Visitor.of_request(request) if request is not None else None
        return visiting(visitor), owned_by(visitor.owner if visitor is not None else None)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            steps = None
            try:
                while True:
                    visit, own = context()
                    with visit, own:
                        if steps is None:
                            steps = iter(fn(*args, **kwargs))
                        try:
                            out = next(steps)
                        except StopIteration:
                            return
                    yield out
            finally:
                close = getattr(steps, "close", None)
                if close is not None:
                    close()
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        visit, own = context()
        with visit, own:
            return fn(*args, **kwargs)
    return call


def loaded_first(fn, ctx):
    """``fn`` with the models its arguments name loaded before it asks the compute gate: a first use (a load from
    disk, a Hub download of gigabytes) never holds the slot other users compute in."""
    registry = ctx.registry
    sig = inspect.signature(fn)

    def load(args, kwargs):
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError:
            return
        bound.apply_defaults()
        known = set(registry.keys())
        for value in bound.arguments.values():
            if isinstance(value, str) and value in known and not registry.is_loaded(value):
                try:
                    registry.get(value)
                except Exception:  # noqa: BLE001 - the handler reports it, in its own words
                    return

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            load(args, kwargs)
            yield from fn(*args, **kwargs)
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        load(args, kwargs)
        return fn(*args, **kwargs)
    return call


def sharing_batches(fn, batcher):
    """``fn`` with its engines' batchable forward passes (studio.batch.shared) joining ``batcher``'s batches."""
    from studio.serving.batcher import sharing

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with sharing(batcher):
            return fn(*args, **kwargs)
    return call


def replay_key(fn, ctx, args, kwargs) -> str | None:
    """The recipe key of one call of ``fn`` (see studio.serving.recipe_key): its arguments with the defaults
    applied, the fingerprint of every model it names (and of the tab's judge), the page's language (plots are
    drawn in it)."""
    from studio import i18n as core
    from studio.serving import recipe_key

    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except TypeError:
        return None  # Gradio will report the bad call; nothing to replay
    bound.apply_defaults()
    registry = ctx.registry
    known = set(registry.keys())
    models = {v for v in bound.arguments.values() if isinstance(v, str) and v in known}
    judge = getattr(ctx, "judge_key", None)
    if judge:
        models.add(judge)
    weights = []
    for key in sorted(models):
        wid = registry.weights_id(key)
        if wid is None:
            return None
        weights.append((key, wid))
    return recipe_key(fn.__qualname__, dict(bound.arguments), (tuple(weights), core.current_lang(), core.figure_lang()))


def replayed(fn, ctx, serving):
    """``fn`` answered from the studio's replay cache where the same call was made before (or is being made)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            key = replay_key(fn, ctx, args, kwargs)
            yield from serving.replay.play(key, lambda: fn(*args, **kwargs))
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        key = replay_key(fn, ctx, args, kwargs)
        outs = list(serving.replay.play(key, lambda: iter((fn(*args, **kwargs),))))
        return outs[0]
    return call
