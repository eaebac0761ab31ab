"""What the tabs share besides their wiring (studio/ui/wiring.py): stream pacing, plot values, a tab's model and
judge, the add box, session state and export folders, figures' formatting."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from studio.errors import StudioError
from studio.i18n import N_
from studio.ui.wiring import require_host

FRAME_EVERY_S = 0.1  # a stream sends a preview at most this often (10 a second); its first and its result always
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
    plot data. Handed a figure, Gradio draws it when it sends it; a result kept for replay (studio/serving/replay.py) then
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


STATE_SECONDS = [3600.0]  # how long a session's kept runs live after their last update (Settings.state_minutes)
EXPORT_KEEP_S = 900.0  # an export's own copy is deleted this long after it was made (Gradio serves its cached copy)


def session_state():
    """A ``gr.State`` for a session's kept run (every step of a diffusion run, a trainer): deleted by Gradio
    ``Settings.state_minutes`` after its last update (ten minutes when hosted), not kept for the server's life."""
    return gr.State(None, time_to_live=STATE_SECONDS[0])


def export_folder(prefix: str) -> Path:
    """A new folder for one export (a GIF, a PNG strip), under the studio's own temporary folder, whose folders
    older than :data:`EXPORT_KEEP_S` are deleted first: exports never pile up on a server's disk."""
    import shutil
    import tempfile

    root = Path(tempfile.gettempdir()) / "generative-studio-exports"
    root.mkdir(exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > EXPORT_KEEP_S:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def family_bundle(registry, key, family: str, what: str, *, loader_prefix: str | None = None):
    """The registry's bundle for ``key``, checked to be a ``family`` model (``what`` names it for the user). A
    key the registry does not know, typed into a model picker, is taken as what the add box takes (a Hub id or
    a folder) and added, where this server allows adding models."""
    if not key:
        raise StudioError(f"Choose a {what}.")
    if isinstance(key, str) and key not in registry.keys() and registry.could_add(key):
        require_host(registry, N_("add a model"))
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
    from studio.serving import serving_of

    what = ("a Hugging Face Hub id or the path of a model folder on this machine" if registry.allow_hub and
            registry.allow_local else "a Hugging Face Hub id" if registry.allow_hub else
            "the path of a model folder on this machine")
    whose = (" Adding models is the host's here (sign in on the Models tab)." if serving_of(registry).host.hosted
             else "")
    box = gr.Textbox(value="", label=label, placeholder=placeholder, elem_id=f"{prefix}-hub-id", scale=2,
                     visible=registry.can_add, info=f"Type {what}; safetensors weights only.{whose}")
    button = gr.Button("Add", elem_id=f"{prefix}-hub-add", scale=0, visible=registry.can_add)
    return box, button


def add_model(registry, family: str, source):
    """Register what the user typed (Hub id or folder, ``ModelRegistry.add_model``) and load it now, so any
    error shows at the add box: the host's action. Returns (spec, bundle)."""
    require_host(registry, N_("add a model"))
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

