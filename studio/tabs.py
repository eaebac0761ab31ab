"""The studio's tabs, in page order: the one list that the app, share links and recipes read.

Adding a tab is one entry here and its builder: ``studio/ui/app.py`` builds the tabs from this list, share links
(``studio/ui/share.py``) take each tab's controls by its ``prefix`` and press its ``run_button`` for ``run=1``, and
recipes (``studio/recipe.py``) find a family's ``@engine_action`` functions in its ``engine`` module.

No Gradio here (the recipe layer reads it too): builders are named as ``"module:function"`` and imported by the app.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tab:
    id: str  # the tab's id: ``?tab=`` in a link, and the recipe family where there is an engine
    title: str
    prefix: str  # every control of the tab has an elem_id starting with it; a link carries them
    builder: str  # "module:function", called as ``function(registry, settings)`` inside the tab; returns None, or a
    # dict with "share" (keyword arguments for share.install) and/or "on_load" ([(fn, outputs)], run when a page opens)
    run_button: str | None = None  # elem_id of the main button (``run=1`` presses it)
    engine: str | None = None  # the module with the family's @engine_action functions (recipes), if it has one
    explained: bool = False  # shows the "what you are seeing" explanation (studio/ui/explain.py) above the controls

    @property
    def not_shared(self) -> set[str]:
        """Controls a link never carries: a Hub id (it would make the receiver download) and the recipe box (the
        link carries the controls it sets already)."""
        return {f"{self.prefix}hub-id", f"{self.prefix}recipe"}


TABS: tuple[Tab, ...] = (
    Tab("text", "Text", "text-", "studio.text.tab:build_text_tab", "text-generate", "studio.text.engine", True),
    Tab("vae", "VAE", "vae-", "studio.vae.tab:build_vae_tab", "vae-interpolate", "studio.vae.engine", True),
    Tab("gan", "GAN", "gan-", "studio.gan.tab:build_gan_tab", "gan-sample", "studio.gan.engine", True),
    Tab("diffusion", "Diffusion", "diff-", "studio.diffusion.tab:build_diffusion_tab", "diff-run",
        "studio.diffusion.engine", True),
    Tab("t2i", "Text to image", "t2i-", "studio.diffusion.text_to_image.tab:build_t2i_tab", "t2i-run",
        "studio.diffusion.text_to_image.engine", True),
    Tab("lab", "Lab", "lab-", "studio.lab.tab:build_lab_tab", "lab-play"),
    Tab("families", "Families", "fam-", "studio.ui.families_tab:build_families_tab", "fam-run"),
    Tab("models", "Models", "models-", "studio.ui.models_tab:build_models_tab"),
)

BY_ID = {t.id: t for t in TABS}
ENGINE_MODULES = {t.id: t.engine for t in TABS if t.engine}  # recipe family -> module of its engine actions
