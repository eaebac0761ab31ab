"""Small helpers shared by the tabs: turning studio errors into ``gr.Error``, formatting figures."""

from __future__ import annotations

import functools
import inspect
import logging
import time

import gradio as gr

from studio.errors import StudioError
from studio.i18n import N_

log = logging.getLogger("studio")
HEAVY = "gpu"  # concurrency_id shared by every event that runs a model
FRAME_EVERY_S = 0.1  # a stream sends a preview at most this often (10 a second); its first and its result always
ERROR_SECONDS = 30  # an error toast closes by itself after this long (and when the user opens another tab)
# Runs in the browser when a tab is opened: closes the error toasts left open by the previous tab. Warnings stay:
# a shared link's "was not applied" warning comes with the tab the link opens.
CLOSE_TOASTS_JS = ("() => { document.querySelectorAll('button.toast-close.error').forEach((b) => b.click()); }")


class Pace:
    """When a stream's next preview is due: the first at once, then at most one every ``every_s`` seconds.

    Each preview a user is sent costs the server its encoding and Gradio's processing; on a CPU that, not the
    model, was most of a streamed Generate or Run (benchmarks/classroom.py). Paced by the clock rather than by the
    step, a fast run sends a few previews and a slow one a steady ten a second, and a busy server is not asked for
    more previews than anyone can see."""

    def __init__(self, every_s: float = FRAME_EVERY_S):
        self.every_s, self.last = every_s, float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.every_s:
            return False
        self.last = now
        return True


def plot_of(fig):
    """A matplotlib figure as the value of a ``gr.Plot``, drawn here once: a PNG (zlib level 1) in Gradio's own
    plot data. Handed a figure, Gradio draws it when it sends it; a result kept for replay (studio/serving.py) then
    pickled the whole figure and every replay drew it again. None stays None."""
    if fig is None:
        return None
    import base64
    import io

    from gradio.components.plot import PlotData

    from studio.plots import figure_to_image

    with io.BytesIO() as out:
        figure_to_image(fig).save(out, "png", compress_level=1)
        data = base64.b64encode(out.getvalue()).decode("ascii")
    return PlotData(type="matplotlib", plot=f"data:image/png;base64,{data}")


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


def family_bundle(registry, key, family: str, what: str, *, loader_prefix: str | None = None):
    """The registry's bundle for ``key``, checked to be a ``family`` model (``what`` names it for the user). A
    key the registry does not know, typed into a model picker, is taken as what the add box takes (a Hub id or
    a folder) and added, where this server allows adding models."""
    if not key:
        raise StudioError(f"Choose a {what}.")
    if isinstance(key, str) and key not in registry.keys() and registry.could_add(key):
        try:
            spec, _ = add_model(registry, family, key)
        except StudioError as err:  # a typo of a known key reads better with the known keys named
            known = ", ".join(registry.keys(family)) or "none"
            raise StudioError(N_(f"Unknown model {key!r} (this tab's models: {known}). Tried as a Hub id or folder: "
                                 f"{err}")) from None
        key = spec.key
    spec = registry.spec(key)
    if spec.family != family:
        raise StudioError(f"{key!r} is a {spec.family} model; this needs a {what}.")
    if loader_prefix is not None and not spec.loader.startswith(loader_prefix):
        raise StudioError(f"{key!r} is not a {what} this view can use (it is loaded by {spec.loader}).")
    return registry.get(key)


METRIC_LABELS = {
    "heldout_nats_per_char": ("held-out nats/char", "{:.3f}"),
    "form_accuracy": ("form accuracy", "{:.2f}"),
    "bigram_heldout_nats_per_char": ("bigram nats/char", "{:.3f}"),
    "bigram_form_accuracy": ("bigram form accuracy", "{:.2f}"),
    "heldout_neg_elbo_nats": ("held-out −ELBO (nats)", "{:.1f}"),
    "judge_accuracy": ("judge accuracy", "{:.1%}"),
    "fd_ratio": ("FD ratio", "{:.2f}"),
    "attribute_accuracy": ("attribute accuracy", "{:.1%}"),
    "heldout_accuracy": ("held-out accuracy", "{:.2%}"),
}


def format_metrics(metrics: dict) -> str:
    """``{"judge_accuracy": 0.97, "fd_ratio": 2.1}`` -> ``"judge accuracy 97.0% · FD ratio 2.10"``."""
    parts = []
    for name, (label, fmt) in METRIC_LABELS.items():
        value = metrics.get(name)
        if isinstance(value, (int, float)):
            parts.append(f"{label} {fmt.format(value)}")
    return " · ".join(parts)


def quiz_order(n: int, seed: int) -> list[int]:
    """The shuffled order of ``n`` items for a predict-then-reveal quiz, fixed by the run's seed (the same link
    shows a class the same puzzle again)."""
    import torch

    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def add_model_box(registry, prefix: str, label: str, placeholder: str):
    """A tab's add box (textbox + button), shown when users may add models (from the Hub or a local folder).
    ``prefix`` starts the elem_ids (``text`` -> ``text-hub-id``, ``text-hub-add``)."""
    what = ("a Hugging Face Hub id or the path of a model folder on this machine" if registry.allow_hub and
            registry.allow_local else "a Hugging Face Hub id" if registry.allow_hub else
            "the path of a model folder on this machine")
    box = gr.Textbox(value="", label=label, placeholder=placeholder, elem_id=f"{prefix}-hub-id", scale=2,
                     visible=registry.can_add, info=f"Type {what}; safetensors weights only.")
    button = gr.Button("Add", elem_id=f"{prefix}-hub-add", scale=0, visible=registry.can_add)
    return box, button


def add_model(registry, family: str, source):
    """Register what the user typed (Hub id or folder, ``ModelRegistry.add_model``) and load it now, so any
    error shows at the add box. Returns (spec, bundle)."""
    known = set(registry.keys())
    spec = registry.add_model(family, source)
    try:
        return spec, registry.get(spec.key)
    except Exception:
        if spec.key not in known:  # a model that cannot load does not stay in the catalog
            registry.unregister(spec.key)
        raise


def shared_args(*lines: str):
    """Append ``Args:`` entries shared by several handlers to a handler's docstring (Gradio reads each handler's
    own docstring for the API page and the MCP schema). ``lines`` are written without indentation; they take
    the indentation of the handler's first ``Args:`` entry."""

    def decorate(fn):
        doc = fn.__doc__.rstrip()
        rows = doc.splitlines()
        first = next(rows[i + 1] for i, row in enumerate(rows) if row.strip() == "Args:")
        indent = first[:len(first) - len(first.lstrip())]
        fn.__doc__ = doc + "\n" + "".join(f"{indent}{line}\n" for line in lines) + indent[:-4]
        return fn

    return decorate


def default_key(registry, family: str) -> str | None:
    """A tab's default model: its first built-in one, else its first model, else None."""
    keys = registry.keys(family)
    return next((s.key for s in registry.specs(family) if s.builtin), keys[0] if keys else None)


def judge_key(registry) -> str | None:
    """The digit judge that rates generated digits, if there is one."""
    return next((s.key for s in registry.specs("judge")), None)


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

    ``gpu``: it runs a model, so it holds a slot of the compute gate (studio/serving.py) while it computes —
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
            h = serving.gate.held(h)
        elif batched and not inspect.isgeneratorfunction(h):  # a stream asks serving_of(...).batcher itself
            h = sharing_batches(h, serving.batcher)
        if replay:
            h = replayed(h, ctx, serving)
    h = user_errors(h)
    return GPU(h) if gpu else h


def sharing_batches(fn, batcher):
    """``fn`` with its engines' batchable forward passes (studio.batch.shared) joining ``batcher``'s batches."""
    from studio.batcher import sharing

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
