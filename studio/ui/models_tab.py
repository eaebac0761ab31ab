"""The Models tab: what the registry holds, load / unload per model, device and memory, quality figures."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from studio.errors import StudioError
from studio.i18n import N_
from studio.ui.common import format_metrics
from studio.ui.wiring import HEAVY, require_host, wired

COLUMNS = ["model", "family", "origin", "loaded", "device", "dtype", "params (M)", "size (MB)", "load (s)",
           "quality", "description", "error"]

COLUMN_WIDTHS = ["150px", "95px", "110px", "70px", "80px", "90px", "95px", "90px", "80px", "240px", "300px", "260px"]

QUALITY_LEGEND = (
    "**Quality** figures are measured by `python -m studio.eval FAMILY` with fixed seeds and shipped in each "
    "checkpoint's `eval.json`: "
    "*held-out nats/char*: a text model's loss on the last 10% of Tiny Shakespeare, per character whatever the "
    "tokenizer (lower is better; nanoGPT's char model reaches 1.47 on a GPU), or on every 10th Tang poem · "
    "*form accuracy*: for the Tang-poem model, with a held-out poem's first line as the prompt and this tab's "
    "default settings, the share of generated lines whose half-lines have the prompt's length (5 or 7); "
    "*bigram*: the same figures for a bigram model of the same characters, for comparison · "
    "*held-out −ELBO*: a VAE's negative evidence lower bound per held-out digit (lower is better) · "
    "*judge accuracy*: the share of generated digits that the digit judge labels as the digit asked for · "
    "*FD ratio*: Fréchet distance of judge features of samples to real held-out digits, divided by the same "
    "distance for real training digits (1.0 = as close as real data; lower is better) · "
    "*held-out accuracy*: the judge's own accuracy on 1,000 digits it never saw."
)


def status_table(registry) -> list[list]:
    rows = []
    for r in registry.status():
        rows.append([r["key"], r["family"], r["origin"], "yes" if r["loaded"] else "no", r["device"], r["dtype"],
                     round(r["params"] / 1e6, 3) if r["params"] else None, r["size_mb"], r["load_s"],
                     format_metrics(r["metrics"]), r["description"], r["error"]])
    return rows


def memory_markdown(registry) -> str:
    m = registry.memory()
    loaded = registry.loaded_keys()
    shown = ", ".join(loaded) if loaded else N_("none yet: models load on first use")
    text = N_(f"**Device:** `{m['device']}` · **process memory:** {m['rss_mb']:.0f} MB · "
              f"**loaded:** {len(loaded)} of at most {registry.max_loaded} ({shown})")
    if "cuda_allocated_mb" in m:
        text += "\n\n" + N_(f"**GPU:** {m['cuda_allocated_mb']:.0f} MB allocated, {m['cuda_reserved_mb']:.0f} MB "
                              f"reserved, {m['cuda_free_mb']:.0f} of {m['cuda_total_mb']:.0f} MB free")
    return text


@dataclass(frozen=True)
class ModelsContext:
    """The Models tab's handlers act on the registry, bound by the wiring (``wired``)."""

    registry: object


def host_markdown(registry) -> str:
    """Who may do what here: the mode and, hosted, how the host signs in."""
    from studio.serving import serving_of

    policy = serving_of(registry).host
    if not policy.hosted:
        return N_(f"**Local mode** ({policy.reason}): whoever uses this page may load, unload and add models.")
    how = (N_("The host signs in below with the host token (STUDIO_HOST_TOKEN).") if policy.token else
           N_("No host token is set (STUDIO_HOST_TOKEN), so no one may do them from a page.") if policy.on_space else
           N_("No host token is set (STUDIO_HOST_TOKEN): only the machine running the studio may do them."))
    return N_(f"**Hosted mode** ({policy.reason}): loading, unloading and adding models are the host's. {how}")


def snapshot(ctx):
    return status_table(ctx.registry), memory_markdown(ctx.registry)


def models_status(ctx):
    """The status table (one row per model) and a line about the device and memory."""
    return snapshot(ctx)


def models_load(ctx, model: str):
    """Load one model into memory (no-op if it is loaded already).

    Args:
        model: the model's key, as the status table lists it.
    """
    key = model
    if not key:
        raise StudioError("Choose a model to load.")
    require_host(ctx.registry, N_("load a model"))
    ctx.registry.get(key)
    row = next(r for r in ctx.registry.status() if r["key"] == key)
    return (*snapshot(ctx), N_(f"Loaded **{key}** on `{row['device']}` in {row['load_s'] or 0:.2f} s."))


def models_unload(ctx, model: str):
    """Unload one model and free its memory.

    Args:
        model: the model's key, as the status table lists it.
    """
    key = model
    if not key:
        raise StudioError("Choose a model to unload.")
    require_host(ctx.registry, N_("unload a model"))
    was = ctx.registry.unload(key)
    return (*snapshot(ctx), N_(f"Unloaded **{key}**.") if was else N_(f"**{key}** was not loaded."))


def models_load_builtin(ctx):
    """Load every built-in model (warm-up before a class)."""
    require_host(ctx.registry, N_("load models"))
    report = ctx.registry.preload(["*"])
    failed = {k: v for k, v in report.items() if v != "ok"}
    msg = N_(f"Loaded {len(report) - len(failed)} built-in model(s).")
    if failed:
        msg += "\n\n" + N_("Failed:") + "\n\n" + "\n\n".join(N_(f"**{k}**: {v}") for k, v in failed.items())
    return (*snapshot(ctx), msg)


def models_unload_all(ctx):
    """Unload every model."""
    require_host(ctx.registry, N_("unload models"))
    n = ctx.registry.unload_all()
    return (*snapshot(ctx), N_(f"Unloaded {n} model(s)."))


def models_host_sign_in(ctx, host_token: str = ""):
    """Sign this session in as the host (hosted mode): its page (or API client session) may then load, unload and
    add models. API clients may instead send the token in an X-Studio-Host-Token header with each request.

    Args:
        host_token: the token the host set in STUDIO_HOST_TOKEN.
    """
    from studio.serving import serving_of

    policy = serving_of(ctx.registry).host
    if not policy.hosted:
        return N_("Local mode: this page may load, unload and add models already; no sign-in is needed.")
    if not policy.token:
        raise StudioError(N_("No host token is set on this studio (STUDIO_HOST_TOKEN), so no one can sign in."))
    if not policy.sign_in(host_token):
        raise StudioError(N_("That is not the host token."))
    return N_("Signed in as the host for this session: load, unload and add models.")


def build_models_tab(registry, settings=None) -> dict:
    """Components and wiring for the Models tab (call inside a ``gr.Blocks``). Returns, under "on_load", the
    refresh run whenever a page opens: the table reflects loads made by other users too (see studio/tabs.py)."""
    ctx = ModelsContext(registry)
    gr.Markdown("Every model the studio knows. Built-in models ship with the studio and work offline; Hub models "
                "need a download first. Models load on first use and stay cached; load them here before a class "
                "so the first demo is instant.")
    memory = gr.Markdown(elem_id="models-memory")  # filled when the page opens, in the page's language
    # Fixed widths (px), the table scrolling sideways on a narrow screen: left to share the width, the short
    # columns (device, dtype, load (s)) were squeezed into one letter a line at 1366 px.
    table = gr.Dataframe(value=status_table(registry), headers=COLUMNS, interactive=False, wrap=True,
                         label="Models", elem_id="models-table", column_widths=COLUMN_WIDTHS)
    gr.Markdown(QUALITY_LEGEND, elem_id="models-quality-legend")
    with gr.Row():
        choice = gr.Dropdown(choices=registry.keys(), value=(registry.keys() or [None])[0], label="Model",
                             elem_id="models-choice", scale=3, allow_custom_value=True)
        load_btn = gr.Button("Load", variant="primary", elem_id="models-load", scale=1)
        unload_btn = gr.Button("Unload", elem_id="models-unload", scale=1)
    with gr.Row():
        warm_btn = gr.Button("Load all built-in models", elem_id="models-load-builtin")
        unload_all_btn = gr.Button("Unload all", elem_id="models-unload-all")
        refresh_btn = gr.Button("Refresh", elem_id="models-refresh")
    note = gr.Markdown(elem_id="models-note")
    host = gr.Markdown(elem_id="models-host")  # filled when the page opens, in the page's language
    from studio.serving import serving_of

    policy = serving_of(registry).host
    with gr.Row(visible=policy.hosted and bool(policy.token)):
        token = gr.Textbox(value="", label="Host token", type="password", elem_id="models-host-token", scale=3)
        sign_in = gr.Button("Sign in as the host", elem_id="models-host-sign-in", scale=1)
    sign_in.click(wired(models_host_sign_in, ctx), token, note, api_name="models_host_sign_in")

    outs = [table, memory, note]
    refresh_btn.click(wired(models_status, ctx), None, [table, memory], api_name="models_status")
    load_btn.click(wired(models_load, ctx), choice, outs, api_name="models_load", concurrency_id=HEAVY)
    unload_btn.click(wired(models_unload, ctx), choice, outs, api_name="models_unload")
    warm_btn.click(wired(models_load_builtin, ctx), None, outs, api_name="models_load_builtin", concurrency_id=HEAVY)
    unload_all_btn.click(wired(models_unload_all, ctx), None, outs, api_name="models_unload_all")
    return {"on_load": [(lambda: (status_table(registry), memory_markdown(registry), host_markdown(registry)),
                         [table, memory, host])]}
