"""Builds the studio's Blocks from a registry. app.py and the tests both call ``build_studio``."""

from __future__ import annotations

import importlib
import os

import gradio as gr

from studio import __version__, serving
from studio.config import Settings
from studio.data import limit_decoding
from studio.tabs import TABS
from studio.ui import common, i18n, patches, share
from studio.ui.common import CLOSE_TOASTS_JS
from studio.ui.explain import explanation

# events between two of Gradio's monitoring summaries (its default, 1, makes one after every event)
ANALYTICS_EVERY = 1000

CSS = """
#studio-title h1 { margin-bottom: 0; }
"""


def build_studio(registry, settings: Settings | None = None, *, localize: bool = True) -> gr.Blocks:
    """The whole app: one tab per family plus the Models tab, all fed by ``registry``. ``localize``: show it
    in the browser's language (English or Simplified Chinese, see studio/i18n.py and studio/ui/i18n.py)."""
    settings = settings or Settings()
    serving.attach(registry, serving.Serving.from_settings(settings, str(registry.device)))
    limit_decoding(settings.max_upload_pixels)  # no image past the limit is decoded, Gradio's own decoding included
    common.STATE_SECONDS[0] = settings.state_minutes * 60.0  # a session's kept runs, then gone
    common.EXPORT_KEEP_S = min(common.EXPORT_KEEP_S, settings.state_minutes * 60.0)
    # Gradio recomputes its monitoring page's summary (pandas over the last 10,000 events: 5-10 ms of the server's
    # CPU, holding the GIL) after every event. The studio does not turn that page on; a host who does keeps theirs.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    patches.install_cache_writes()
    patches.install_mcp_outputs()
    patches.lazy_session_configs()
    keep = int(settings.state_minutes * 60)
    # Gradio's cached copies of results and uploads: every `keep` seconds, those older than `keep` go
    with gr.Blocks(title="Generative Studio", delete_cache=(keep, keep)) as demo:
        gr.Markdown("# Generative Studio\nExplore and teach generative models: text, VAE, GAN and diffusion, "
                    "on models that run on this machine.", elem_id="studio-title")
        gr.Markdown(f"*v{__version__}*", elem_id="studio-version")
        items, share_kwargs, on_load = {}, {}, []
        with gr.Tabs(elem_id="studio-tabs") as tabs:
            for tab in TABS:  # studio/tabs.py: the one list of tabs
                module, function = tab.builder.split(":")
                with gr.Tab(tab.title, id=tab.id, elem_id=f"tab-{tab.id}") as items[tab.id]:
                    if tab.explained:
                        explanation(tab.id)
                    extras = getattr(importlib.import_module(module), function)(registry, settings) or {}
                share_kwargs.update(extras.get("share", {}))
                on_load.extend(extras.get("on_load", []))
        share.install(demo, tabs, items, **share_kwargs)
        for item in items.values():  # one tab's error stays with it
            item.select(None, None, None, js=CLOSE_TOASTS_JS, api_visibility="private")
        for fn, outputs in on_load:  # e.g. the Models table, which reflects loads made by other users too
            demo.load(fn, None, outputs, api_visibility="private")
    patches.name_input_errors(demo)
    patches.skip_unchanged_outputs(demo)
    if localize:
        i18n.localize_blocks(demo)
        patches.translate_events(demo)
    return demo


def launch_kwargs(settings: Settings | None = None) -> dict:
    """Arguments for ``demo.launch`` shared by app.py and the tests (Gradio 6: theme and css go here); the largest
    upload Gradio accepts (``STUDIO_MAX_FILE_MB``) is refused before it is written to disk."""
    settings = settings or Settings()
    return {"theme": gr.themes.Soft(), "css": CSS, "i18n": i18n.gr_i18n(), "head": i18n.HEAD,
            "max_file_size": f"{settings.max_file_mb}mb"}
