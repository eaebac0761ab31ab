"""Shareable views: every tab's controls go into the page URL, so one link reproduces what was on the screen.

    http://host:7860/?tab=diffusion&diff-scheduler=Heun&diff-steps=30&diff-seed=7&run=1

* Parameters are the controls' ``elem_id``s; ``tab`` selects the tab; ``run=1`` presses the tab's main button
  once the controls are restored.
* "Copy link" (top of the page) writes the current tab's controls into the address bar and the link box, and
  copies it to the clipboard where the browser allows.
* A value a control cannot take is not applied; the page says which one and why (a warning toast), so nothing
  changes silently.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import gradio as gr

from studio import tabs as tab_list
from studio.i18n import N_, request_lang, translate

TABS = {t.id: t.prefix for t in tab_list.TABS}  # studio/tabs.py: the one list of tabs
RUN_BUTTONS = {t.id: t.run_button for t in tab_list.TABS if t.run_button}
SHAREABLE = (gr.Slider, gr.Number, gr.Dropdown, gr.Radio, gr.Checkbox, gr.CheckboxGroup, gr.Textbox)
SKIP = set().union(*(t.not_shared for t in tab_list.TABS))  # every tab's Hub id and recipe box


def shareable_controls(demo: gr.Blocks) -> dict[str, list]:
    """Per tab, the input controls (by elem_id prefix) that a link carries."""
    out: dict[str, list] = {tab: [] for tab in TABS}
    for block in demo.blocks.values():
        eid = getattr(block, "elem_id", None)
        if not eid or eid in SKIP or not isinstance(block, SHAREABLE) or isinstance(block, gr.Code):
            continue
        if getattr(block, "interactive", None) is False and not isinstance(block, gr.Slider):
            continue  # outputs shown as text boxes
        if getattr(block, "type", None) == "password":
            continue  # a secret (the host token) never goes into an address bar
        for tab, prefix in TABS.items():
            if eid.startswith(prefix):
                out[tab].append(block)
    return out


def _parse(block, raw: str):
    if isinstance(block, (gr.Slider, gr.Number)):
        value = float(raw)
        return int(value) if value.is_integer() else value
    if isinstance(block, gr.Checkbox):
        if raw.lower() not in ("1", "0", "true", "false"):
            raise ValueError(f"{raw!r} is not true or false")
        return raw.lower() in ("1", "true")
    if isinstance(block, gr.CheckboxGroup):
        return [v for v in raw.split(",") if v]
    return raw


def restore_values(controls: list, params: dict[str, list[str]]) -> tuple[list, list[str]]:
    """The value for each control from the URL's query parameters (``gr.skip()`` where absent or invalid), and a
    message for each value that could not be applied."""
    values, problems = [], []
    for block in controls:
        raw = params.get(block.elem_id)
        if not raw:
            values.append(gr.skip())
            continue
        try:
            value = _parse(block, raw[-1])
            block.preprocess(value)  # the control's own check (range, choices, type), as for a user's input
        except Exception as err:  # noqa: BLE001 - every problem is reported to the user
            message = getattr(err, "message", None) or str(err)
            problems.append(N_(f"{block.elem_id}={raw[-1][:40]!r} was not applied: {message}"))
            values.append(gr.skip())
            continue
        values.append(value)
    return values, problems


def install(demo: gr.Blocks, tabs: gr.Tabs, tab_items: dict[str, gr.Tab], *, lang_defaults: dict | None = None,
            lang_blocks: dict | None = None) -> None:
    """Add the link box and "Copy link" button, and restore a view from the URL when a page opens. Call it inside
    the ``with demo:`` block, after the tabs.

    ``lang_defaults``: ``{elem_id: {lang: value}}``, a control's value when a page in that language opens and its
    link does not set it (the Chinese page opens the Text tab on the Chinese model). ``lang_blocks``:
    ``{block: languages}``, blocks shown only on pages in those languages (each language's example prompts)."""
    lang_defaults, lang_blocks = lang_defaults or {}, lang_blocks or {}
    controls = shareable_controls(demo)
    with gr.Row():
        current_tab = gr.Textbox(value="text", visible=False, elem_id="share-tab")
        link = gr.Textbox(label="Link to this view (controls and seed)", elem_id="share-link", interactive=False,
                          scale=4, buttons=["copy"])
        copy_btn = gr.Button("Copy link", elem_id="share-copy", scale=0)
    for tab_id, tab in tab_items.items():
        tab.select(None, None, current_tab, js=f"() => {json.dumps(tab_id)}", api_visibility="private")
    ids = {tab: [b.elem_id for b in blocks] for tab, blocks in controls.items()}
    all_controls = [b for blocks in controls.values() for b in blocks]
    all_ids = [b.elem_id for b in all_controls]
    copy_js = f"""(tab, ...values) => {{
        const ids = {json.dumps(all_ids)};
        const mine = {json.dumps(ids)}[tab] || [];
        const url = new URL(window.location.href.split('?')[0]);
        url.searchParams.set('tab', tab);
        ids.forEach((id, i) => {{
            if (!mine.includes(id)) return;
            let v = values[i];
            if (v === null || v === undefined) return;
            if (Array.isArray(v)) v = v.join(',');
            url.searchParams.set(id, String(v));
        }});
        const text = url.toString();
        window.history.replaceState(null, '', text);
        if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {{}});
        return text;
    }}"""
    copy_btn.click(None, [current_tab, *all_controls], link, js=copy_js, api_visibility="private")

    def restore(request: gr.Request):
        params = parse_qs(str(request.query_params)) if request is not None else {}
        tab = (params.get("tab") or [""])[-1]
        values, problems = restore_values(all_controls, params)
        lang = request_lang(request)
        for i, block in enumerate(all_controls):
            by_lang = lang_defaults.get(block.elem_id, {})
            if block.elem_id not in params and lang in by_lang:
                values[i] = by_lang[lang]
        if tab and tab not in TABS:
            problems.append(N_(f"tab={tab!r} is not one of {', '.join(TABS)}"))
            tab = ""
        for p in problems:
            gr.Warning(translate(N_(f"Link: {p}")))
        shown = [gr.update(visible=lang in langs) for langs in lang_blocks.values()]
        return (gr.Tabs(selected=tab) if tab else gr.skip(), tab or gr.skip(), *values, *shown)

    run_js = f"""() => {{
        const p = new URLSearchParams(window.location.search);
        const buttons = {json.dumps(RUN_BUTTONS)};
        if (p.get('run') === '1' && buttons[p.get('tab')]) {{
            setTimeout(() => document.querySelector('#' + buttons[p.get('tab')])?.click(), 300);
        }}
    }}"""
    demo.load(restore, None, [tabs, current_tab, *all_controls, *lang_blocks], api_visibility="private").then(
        None, None, None, js=run_js, api_visibility="private")
