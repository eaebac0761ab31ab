"""Builds the studio's Blocks from a registry. app.py and the tests both call ``build_studio``."""

from __future__ import annotations

import gradio as gr

from studio import __version__
from studio.config import Settings
from studio.models_tab import build_models_tab, memory_markdown, status_table
from studio.gan.tab import build_gan_tab
from studio.text.tab import build_text_tab
from studio.vae.tab import build_vae_tab

CSS = """
#studio-title h1 { margin-bottom: 0; }
"""


def build_studio(registry, settings: Settings | None = None) -> gr.Blocks:
    """The whole app: one tab per family plus the Models tab, all fed by ``registry``."""
    settings = settings or Settings()
    with gr.Blocks(title="Generative Studio") as demo:
        gr.Markdown(f"# Generative Studio\nExplore and teach generative models: text, VAE, GAN and diffusion, "
                    f"on models that run on this machine. *v{__version__}*", elem_id="studio-title")
        with gr.Tabs(elem_id="studio-tabs"):
            with gr.Tab("Text", id="text", elem_id="tab-text"):
                build_text_tab(registry, settings)
            with gr.Tab("VAE", id="vae", elem_id="tab-vae"):
                build_vae_tab(registry, settings)
            with gr.Tab("GAN", id="gan", elem_id="tab-gan"):
                build_gan_tab(registry, settings)
            with gr.Tab("Models", id="models", elem_id="tab-models"):
                table, memory = build_models_tab(registry)
        # Refresh the Models table whenever a page opens (it reflects loads made by other users too).
        demo.load(lambda: (status_table(registry), memory_markdown(registry)), None, [table, memory],
                  api_visibility="private")
    return demo


def launch_kwargs() -> dict:
    """Arguments for ``demo.launch`` shared by app.py and the tests (Gradio 6: theme and css go here)."""
    return {"theme": gr.themes.Soft(), "css": CSS}
