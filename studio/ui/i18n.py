"""The page in the browser's language: ``gr.I18n`` keys for every page string the catalog translates, and the
text a handler writes, translated on its way out (studio.i18n holds the catalog and :func:`translate`)."""

from __future__ import annotations

import functools

import gradio as gr
from gradio.context import LocalContext

from studio import i18n as core
from studio.i18n import catalog, is_identifier, is_text, key_of, request_lang, translate

# Which component attributes carry text the user reads; ``value`` only for components whose value is text
# the studio wrote (a Markdown panel, a button's caption), never for a user's input.
TEXT_ATTRS = ("label", "info", "placeholder")

# Outside an event the patches wrapped, the language is that of the request Gradio is running a function for.
core.request_fallback = lambda: request_lang(LocalContext.request.get(None))


CONTENT_CLASS = "studio-content"  # an HTML output whose words the handler translated itself


def _value_text() -> tuple:
    return (gr.Markdown, gr.Button, gr.DownloadButton, gr.UploadButton, gr.HTML)

# Keeps the studio_lang cookie equal to the language the page shows (Gradio sets <html lang> from the browser's
# language or from Settings -> Language), so that messages written on the server follow the page.
HEAD = """<script>
(() => {
  const sync = () => {
    const lang = document.documentElement.lang || navigator.language || "en";
    document.cookie = "studio_lang=" + encodeURIComponent(lang) + "; path=/; SameSite=Lax";
  };
  sync();
  new MutationObserver(sync).observe(document.documentElement, {attributes: true, attributeFilter: ["lang"]});
})();
</script>"""


def gr_i18n() -> gr.I18n:
    """The ``gr.I18n`` passed to ``launch``: each page string's key, with its English and its translation."""
    ui = catalog("zh-CN")["ui"]
    return gr.I18n(en={key_of(k): k for k in ui}, **{"zh-CN": {key_of(k): v for k, v in ui.items()}})


def english(text) -> str:
    """The English of a page string: a ``gr.I18n`` key's text, or the string itself ("" for None)."""
    key = getattr(text, "key", None) if type(text).__name__ == "I18nData" else None
    if key is not None:
        return _english_by_key().get(key, key)
    return "" if text is None else str(text)


@functools.cache
def _english_by_key() -> dict[str, str]:
    return {key_of(k): k for k in catalog("zh-CN")["ui"]}


@functools.cache
def _cells(lang: str) -> dict[str, str]:
    """Exact translations for table cells ("yes", "built-in", ...): page strings and words, never templates."""
    return {**catalog(lang)["ui"], **catalog(lang)["words"]}


def ui_strings(demo: gr.Blocks):
    """Every (block, attribute, text) on the page that a user reads: labels, help text, placeholders, tab and
    accordion names, Markdown panels, button captions, and the shown names of choices."""
    for block in demo.blocks.values():
        for attr in TEXT_ATTRS:
            text = getattr(block, attr, None)
            if is_text(text) or isinstance(text, gr.i18n.I18nData):
                yield block, attr, text
        if isinstance(block, _value_text()) and not callable(block.value):
            if is_text(block.value) or isinstance(block.value, gr.i18n.I18nData):
                yield block, "value", block.value
        for i, choice in enumerate(getattr(block, "choices", None) or []):
            if isinstance(choice, tuple) and not is_identifier(choice[0]) and (
                    is_text(choice[0]) or isinstance(choice[0], gr.i18n.I18nData)):
                yield block, f"choices[{i}]", choice[0]
        if isinstance(block, gr.Dataframe):
            for i, header in enumerate(getattr(block, "headers", None) or []):
                if is_text(header):
                    yield block, f"headers[{i}]", header


def localize_blocks(demo: gr.Blocks, lang: str = "zh-CN") -> list[str]:
    """Swap every page string the catalog translates for a ``gr.I18n`` key; return the ones it does not."""
    ui = catalog(lang)["ui"]
    maker = gr_i18n()
    missing = []
    for block, attr, text in list(ui_strings(demo)):
        if isinstance(text, gr.i18n.I18nData):
            continue
        if text not in ui:
            missing.append(text)
            continue
        if attr.startswith("headers["):
            continue  # a table's headers travel with its value: translated on the server (translate_prediction)
        if attr.startswith("choices["):
            i = int(attr[8:-1])
            block.choices[i] = (maker(key_of(text)), block.choices[i][1])
        elif attr == "value":
            block.value = str(maker(key_of(text)))
        else:
            setattr(block, attr, maker(key_of(text)))
    return missing


def translate_prediction(block, value, lang: str):
    """One output value for ``block``, its studio-written text translated (user content is left alone)."""
    if isinstance(value, dict) and value.get("__type__") == "update":
        out = dict(value)
        for attr in TEXT_ATTRS:
            if isinstance(out.get(attr), str):
                out[attr] = translate(out[attr], lang)
        if "value" in out:
            out["value"] = translate_prediction(block, out["value"], lang)
        return out
    if isinstance(block, _value_text()) and isinstance(value, str):
        if CONTENT_CLASS in (getattr(block, "elem_classes", None) or []):
            return value  # built translated on the server, around user content (studio/text/reading.py)
        return translate(value, lang)
    if isinstance(block, gr.Dataframe) and isinstance(value, list):
        cells = _cells(lang)
        return {"headers": [translate(h, lang) for h in (block.headers or [])],
                "data": [[cells.get(c, c) if isinstance(c, str) else c for c in row] for row in value]}
    if isinstance(block, gr.Gallery) and isinstance(value, list):
        return [(v[0], translate(v[1], lang)) if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str)
                else v for v in value]
    return value
