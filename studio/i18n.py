"""The interface in English and Simplified Chinese.

The studio is written in English. This module translates it, from one catalog per language
(``studio/locales/zh-CN.json``), in two places:

* **The page** (labels, help text, buttons, tab names, explanations with their maths): after the Blocks are
  built, :func:`localize_blocks` swaps every English string the catalog knows for a ``gr.I18n`` key, and the
  browser shows it in its own language (Gradio picks it from the browser, and its Settings panel switches it).
* **What the server says** (error messages, warnings, notes and captions a handler writes): Gradio does not
  translate these in the browser, so :func:`translate` does it on the server, in the language the page is
  showing. A small script in the page's ``<head>`` (:data:`HEAD`) keeps a ``studio_lang`` cookie equal to the
  page's language, so every request carries it; API callers without the cookie get the language their
  ``Accept-Language`` header asks for, else English.

Catalog sections: ``ui`` maps an English string to its translation, exactly. ``messages`` maps an English
*template* to a translated one: the template is the f-string as written in the source, ``{name}`` marking
each value (``"steps must be between {lo} and {hi}, got {steps}."``); a message is matched against the
templates and its values carried over (a value that is itself in the catalog is translated too). Messages
built line by line are translated line by line. ``python scripts/i18n_extract.py`` lists what is missing;
``tests/test_i18n.py`` fails when anything a user can see has no translation.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import gradio as gr

log = logging.getLogger("studio")

LANGS = ("en", "zh-CN")
COOKIE = "studio_lang"
LOCALES = Path(__file__).parent / "locales"
# Which component attributes carry text the user reads; ``value`` only for components whose value is text
# the studio wrote (a Markdown panel, a button's caption), never for a user's input.
TEXT_ATTRS = ("label", "info", "placeholder")


def _value_text() -> tuple:
    import gradio as gr

    return (gr.Markdown, gr.Button, gr.DownloadButton, gr.UploadButton, gr.HTML)
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
_LETTERS = re.compile(r"[A-Za-z]{2,}")
SEPARATORS = ("\n", " · ")  # text built line by line, or from parts joined with " · ", is translated part by part

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


_LANG = __import__("contextvars").ContextVar("studio_lang", default=None)  # set per event by install()

# Fonts matplotlib can draw Simplified Chinese with, most usual first: Linux (apt fonts-noto-cjk, Source Han,
# WenQuanYi), Windows (Microsoft YaHei, SimHei), macOS (PingFang, Hiragino, STHeiti). Plot text is translated
# only where one is installed: English is better than a plot of empty boxes.
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "Microsoft YaHei",
             "PingFang SC", "Hiragino Sans GB", "Heiti SC", "STHeiti", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
             "SimHei", "Droid Sans Fallback", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans")


def N_(text: str) -> str:
    """Marks a string (or f-string) the user will read, for ``scripts/i18n_extract.py``; returns it unchanged."""
    return text


@functools.cache
def catalog(lang: str = "zh-CN") -> dict[str, dict[str, str]]:
    """The catalog for ``lang``: ``{"ui": {english: translated}, "messages": {template: translated},
    "words": {english: translated}}`` (``words``: names that appear inside messages, e.g. "generator")."""
    if lang == "en":
        return {"ui": {}, "messages": {}, "words": {}}
    data = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    return {section: dict(data.get(section, {})) for section in ("ui", "messages", "words")}


def key_of(english: str) -> str:
    """The ``gr.I18n`` key for a page string: the English itself, or for text with braces (LaTeX), which the
    browser's ``__i18n__`` marker cannot carry, a stable name made from its hash."""
    if "{" in english or "}" in english:
        return "studio-" + hashlib.sha1(english.encode("utf-8")).hexdigest()[:16]
    return english


def i18n() -> gr.I18n:
    """The ``gr.I18n`` passed to ``launch``: each page string's key, with its English and its translation."""
    import gradio as gr

    ui = catalog("zh-CN")["ui"]
    return gr.I18n(en={key_of(k): k for k in ui}, **{"zh-CN": {key_of(k): v for k, v in ui.items()}})


def normalize(lang: str | None) -> str:
    """A browser language tag -> one of LANGS: any Chinese but Traditional -> zh-CN, else English."""
    tag = (lang or "").strip().lower()
    if tag.startswith("zh") and not any(t in tag for t in ("tw", "hk", "mo", "hant")):
        return "zh-CN"
    return "en"


def request_lang(request) -> str:
    """The language of the page that sent ``request``: its studio_lang cookie, else Accept-Language, else en."""
    if request is None:
        return "en"
    headers = getattr(request, "headers", None) or {}
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", "") or "")
    except Exception:  # noqa: BLE001 - a malformed cookie header means no cookie
        pass
    if COOKIE in cookie:
        return normalize(cookie[COOKIE].value)
    first = (headers.get("accept-language", "") or "").split(",")[0].split(";")[0]
    return normalize(first)


def current_lang() -> str:
    """The language of the event being handled (set by :func:`install`, or by :func:`using`), else that of
    the request Gradio is running a function for, else English."""
    lang = _LANG.get()
    if lang is not None:
        return lang
    from gradio.context import LocalContext

    return request_lang(LocalContext.request.get(None))


@contextlib.contextmanager
def using(lang: str):
    """Run a block as if the page were in ``lang`` (scripts and tests; events get theirs from the request)."""
    token = _LANG.set(normalize(lang) if lang not in LANGS else lang)
    try:
        yield
    finally:
        _LANG.reset(token)


# File names of those fonts, for fonts installed after matplotlib cached its font list
_CJK_FILES = ("notosanscjk", "notosanssc", "sourcehansans", "msyh", "pingfang", "hiragino sans gb", "stheiti",
              "wqy", "simhei", "droidsansfallback")


@functools.cache
def cjk_font() -> str | None:
    """The first installed font (of :data:`CJK_FONTS`) matplotlib can draw Chinese with, or None. A font
    installed after matplotlib cached its list of fonts is found on disk and added."""
    from matplotlib import font_manager

    def first() -> str | None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        return next((name for name in CJK_FONTS if name in names), None)

    found = first()
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(part in Path(path).name.lower().replace("-", "").replace("_", "") for part in _CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file: try the next one
                    continue
        found = first()
    return found


def figure_lang() -> str:
    """The language to write plot text in: the page's, where a font for it is installed; else English."""
    lang = current_lang()
    return lang if lang == "en" or cjk_font() else "en"


def T_(text: str) -> str:
    """Marks text drawn inside a plot (axis labels, titles, legends), like :func:`N_`, and returns it in
    :func:`figure_lang`: a plot is a picture, so its text is translated when it is drawn, on the server."""
    lang = figure_lang()
    return text if lang == "en" else translate(text, lang)


@functools.cache
def _compiled(lang: str) -> list[tuple[re.Pattern, list[str], str, int]]:
    """The message templates as regular expressions, most specific (longest literal text) first."""
    out = []
    for template, translated in catalog(lang)["messages"].items():
        parts = _PLACEHOLDER.split(template)
        names = _PLACEHOLDER.findall(template)
        literal = sum(len(p) for p in parts)
        if not names or literal < 2:
            continue
        # a value never spans a " · " (parts of a line are translated one by one when no template has them all)
        pattern = "".join(re.escape(p) + ("((?:(?! · ).)*?)" if i < len(names) else "") for i, p in enumerate(parts))
        out.append((re.compile(pattern, re.S), names, translated, literal))
    out.sort(key=lambda t: -t[3])
    return out


def lookup(text: str, lang: str, _depth: int = 0) -> str | None:
    """The translation of one message or string, or None when the catalog has none."""
    cat = catalog(lang)
    for section in ("ui", "messages", "words"):
        if text in cat[section]:
            return cat[section][text]
    stripped = text.strip()
    if stripped != text and stripped:
        found = lookup(stripped, lang, _depth)
        if found is not None:
            return text[: len(text) - len(text.lstrip())] + found + text[len(text.rstrip()):]
    if _depth > 3:
        return None
    for pattern, names, translated, literal in _compiled(lang):
        m = pattern.fullmatch(text)
        if m is None:
            continue
        values, complete = {}, True
        for name, value in zip(names, m.groups()):
            if name in values:
                continue
            if _LETTERS.search(value):
                found = lookup(value, lang, _depth + 1)
                if found is None and _depth < 3:
                    found = _by_parts(value, lang, _depth + 1)
                complete = complete and found is not None
                value = value if found is None else found
            values[name] = value
        if literal < 3 and not complete:
            continue  # a template that is little more than "{a}: {b}" counts only when it translates the values
        return _PLACEHOLDER.sub(lambda p, v=values: v.get(p.group(0), p.group(0)), translated)
    return None


def _by_parts(text: str, lang: str, depth: int) -> str | None:
    """``text`` translated line by line or part by part, or None if any part with words is not in the catalog."""
    for sep in SEPARATORS:
        if sep in text:
            parts = []
            for part in text.split(sep):
                found = lookup(part, lang, depth) if _LETTERS.search(part) else part
                if found is None:
                    return None
                parts.append(found)
            return sep.join(parts)
    return None


def translate(text, lang: str | None = None, _depth: int = 0):
    """``text`` in ``lang`` (default: the current request's language). Whole text first, then line by line;
    anything the catalog lacks stays English (and is logged once, so the catalog can grow)."""
    if not isinstance(text, str) or not text:
        return text
    lang = lang or current_lang()
    if lang == "en":
        return text
    found = lookup(text, lang, _depth)
    if found is not None:
        return found
    for sep in SEPARATORS:
        if sep in text:
            return sep.join(translate(part, lang, _depth) for part in text.split(sep))
    if _LETTERS.search(text) and _depth == 0:
        _missing(text[:200])
    return text


MISSING: set[str] = set()  # text the catalog could not translate, since start (tests/test_i18n.py reads it)


def _missing(text: str) -> None:
    if text not in MISSING and len(MISSING) < 10_000:
        MISSING.add(text)
        log.info("no zh-CN translation for %r", text)


def translate_output(value, lang: str):
    """A handler's return value with the text in it translated: strings, (image, caption) pairs in galleries,
    ``gr.update`` labels and text values. Files, images and numbers pass through."""
    if lang == "en":
        return value
    if isinstance(value, str):
        return value if _looks_like_path(value) else translate(value, lang)
    if isinstance(value, tuple):
        return tuple(translate_output(v, lang) for v in value)
    if isinstance(value, list):
        return [translate_output(v, lang) for v in value]
    if isinstance(value, dict) and value.get("__type__") == "update":
        out = dict(value)
        for attr in ("label", "info", "placeholder", "value"):
            if isinstance(out.get(attr), str) and not _looks_like_path(out[attr]):
                out[attr] = translate(out[attr], lang)
        return out
    return value


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and (text.startswith("/") or text.startswith(("http://", "https://")) or
                                 Path(text).suffix.lower() in (".png", ".gif", ".json", ".py", ".txt", ".webp"))


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


def is_text(text) -> bool:
    """Whether a string is words a reader reads (has a word of two letters), not a number, key or symbol."""
    return isinstance(text, str) and bool(_LETTERS.search(text))


_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.]+[-/_][A-Za-z0-9_./-]+$")


def is_identifier(text) -> bool:
    """A model key or Hub id (``mnist-ddpm``, ``google/ddpm-cifar10-32``): a name, never translated."""
    return isinstance(text, str) and bool(_IDENTIFIER.match(text))


def ui_strings(demo: gr.Blocks):
    """Every (block, attribute, text) on the page that a user reads: labels, help text, placeholders, tab and
    accordion names, Markdown panels, button captions, and the shown names of choices."""
    import gradio as gr

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
    import gradio as gr

    ui = catalog(lang)["ui"]
    maker = i18n()
    missing = []
    for block, attr, text in list(ui_strings(demo)):
        if isinstance(text, gr.i18n.I18nData):
            continue
        if text not in ui:
            missing.append(text)
            continue
        if attr.startswith("headers["):
            continue  # a table's headers travel with its value: translated on the server (_translate_prediction)
        if attr.startswith("choices["):
            i = int(attr[8:-1])
            block.choices[i] = (maker(key_of(text)), block.choices[i][1])
        elif attr == "value":
            block.value = str(maker(key_of(text)))
        else:
            setattr(block, attr, maker(key_of(text)))
    return missing


def _translate_prediction(block, value, lang: str):
    """One output value for ``block``, its studio-written text translated (user content is left alone)."""
    import gradio as gr

    if isinstance(value, dict) and value.get("__type__") == "update":
        out = dict(value)
        for attr in TEXT_ATTRS:
            if isinstance(out.get(attr), str):
                out[attr] = translate(out[attr], lang)
        if "value" in out:
            out["value"] = _translate_prediction(block, out["value"], lang)
        return out
    if isinstance(block, _value_text()) and isinstance(value, str):
        return translate(value, lang)
    if isinstance(block, gr.Dataframe) and isinstance(value, list):
        cells = _cells(lang)
        return {"headers": [translate(h, lang) for h in (block.headers or [])],
                "data": [[cells.get(c, c) if isinstance(c, str) else c for c in row] for row in value]}
    if isinstance(block, gr.Gallery) and isinstance(value, list):
        return [(v[0], translate(v[1], lang)) if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str)
                else v for v in value]
    return value


def install(demo: gr.Blocks) -> None:
    """Translate what the server says in the page's language: every event's error message, and the text its
    handler writes into Markdown panels, buttons, gallery captions and label updates."""
    import gradio as gr

    if getattr(demo, "_studio_i18n", False):
        return
    original_api, original_post = demo.process_api, demo.postprocess_data

    async def process_api(block_fn, inputs, state=None, request=None, *args, **kwargs):
        req = request[0] if isinstance(request, list) and request else request
        lang = request_lang(req)
        token = _LANG.set(lang)
        try:
            return await original_api(block_fn, inputs, state, request, *args, **kwargs)
        except gr.Error as err:
            if lang != "en" and isinstance(err.message, str):
                err.message = translate(err.message, lang)
                err.args = (err.message, *err.args[1:])
                if getattr(err, "title", None) == "Error":
                    err.title = translate("Error", lang)
            raise
        finally:
            _LANG.reset(token)

    async def postprocess_data(block_fn, predictions, state):
        lang = _LANG.get() or "en"
        if lang != "en":
            outputs = list(block_fn.outputs)
            if len(outputs) == 1 and not block_fn.batch:
                predictions = _translate_prediction(outputs[0], predictions, lang)
            elif isinstance(predictions, dict) and "__type__" not in predictions:
                predictions = {b: _translate_prediction(b, v, lang) for b, v in predictions.items()}
            elif isinstance(predictions, (list, tuple)) and len(predictions) == len(outputs):
                predictions = [_translate_prediction(b, v, lang) for b, v in zip(outputs, predictions)]
        return await original_post(block_fn, predictions, state)

    demo.process_api = process_api
    demo.postprocess_data = postprocess_data
    demo._studio_i18n = True
