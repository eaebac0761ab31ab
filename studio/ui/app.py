"""Builds the studio's Blocks from a registry. app.py and the tests both call ``build_studio``."""

from __future__ import annotations

import gradio as gr

from studio import __version__, serving
from studio.config import Settings
from studio.diffusion.t2i_tab import build_t2i_tab
from studio.diffusion.tab import build_diffusion_tab
from studio.gan.tab import build_gan_tab
from studio.lab.tab import build_lab_tab
from studio.text.tab import build_text_tab
from studio.data import limit_decoding
from studio.ui import common, i18n, patches, share
from studio.ui.common import CLOSE_TOASTS_JS
from studio.ui.explain import explanation
from studio.ui.families_tab import build_families_tab
from studio.ui.models_tab import build_models_tab, host_markdown, memory_markdown, status_table
from studio.vae.tab import build_vae_tab

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
    patches.install_cache_writes()
    patches.install_mcp_outputs()
    patches.lazy_session_configs()
    keep = int(settings.state_minutes * 60)
    # Gradio's cached copies of results and uploads: every `keep` seconds, those older than `keep` go
    with gr.Blocks(title="Generative Studio", delete_cache=(keep, keep)) as demo:
        gr.Markdown("# Generative Studio\nExplore and teach generative models: text, VAE, GAN and diffusion, "
                    "on models that run on this machine.", elem_id="studio-title")
        gr.Markdown(f"*v{__version__}*", elem_id="studio-version")
        with gr.Tabs(elem_id="studio-tabs") as tabs:
            with gr.Tab("Text", id="text", elem_id="tab-text") as tab_text:
                explanation("text")
                text_langs = build_text_tab(registry, settings)
            with gr.Tab("VAE", id="vae", elem_id="tab-vae") as tab_vae:
                explanation("vae")
                build_vae_tab(registry, settings)
            with gr.Tab("GAN", id="gan", elem_id="tab-gan") as tab_gan:
                explanation("gan")
                build_gan_tab(registry, settings)
            with gr.Tab("Diffusion", id="diffusion", elem_id="tab-diffusion") as tab_diffusion:
                explanation("diffusion")
                build_diffusion_tab(registry, settings)
            with gr.Tab("Text to image", id="t2i", elem_id="tab-t2i") as tab_t2i:
                explanation("t2i")
                build_t2i_tab(registry, settings)
            with gr.Tab("Lab", id="lab", elem_id="tab-lab") as tab_lab:
                build_lab_tab(registry, settings)
            with gr.Tab("Families", id="families", elem_id="tab-families") as tab_families:
                build_families_tab(registry, settings)
            with gr.Tab("Models", id="models", elem_id="tab-models") as tab_models:
                table, memory, host = build_models_tab(registry)
        share.install(demo, tabs, {"text": tab_text, "vae": tab_vae, "gan": tab_gan, "diffusion": tab_diffusion,
                                   "t2i": tab_t2i, "lab": tab_lab, "families": tab_families,
                                   "models": tab_models}, **text_langs)
        for tab in (tab_text, tab_vae, tab_gan, tab_diffusion, tab_t2i, tab_lab, tab_families, tab_models):  # one tab's error stays with it
            tab.select(None, None, None, js=CLOSE_TOASTS_JS, api_visibility="private")
        # Refresh the Models table whenever a page opens (it reflects loads made by other users too).
        demo.load(lambda: (status_table(registry), memory_markdown(registry), host_markdown(registry)), None,
                  [table, memory, host], api_visibility="private")
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
