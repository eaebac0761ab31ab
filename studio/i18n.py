"""The interface in English and Simplified Chinese.

The studio is written in English. This module (no gradio in it) holds the catalog, one per language
(``studio/locales/zh-CN.json``), the markers :func:`N_` (text a user reads) and :func:`T_` (text drawn in a
plot), and :func:`translate`. It is used in two places:

* **The page** (labels, help text, buttons, tab names, explanations with their maths): after the Blocks are
  built, ``studio/ui/i18n.py`` swaps every English string the catalog knows for a ``gr.I18n`` key, and the
  browser shows it in its own language (Gradio picks it from the browser, and its Settings panel switches it).
* **What the server says** (error messages, warnings, notes and captions a handler writes): Gradio does not
  translate these in the browser, so :func:`translate` does it on the server, in the language the page is
  showing. A small script in the page's ``<head>`` (``studio.ui.i18n.HEAD``) keeps a ``studio_lang`` cookie
  equal to the page's language, so every request carries it; API callers without the cookie get the language
  their ``Accept-Language`` header asks for (:func:`request_lang`), else English.

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
from typing import Callable

log = logging.getLogger("studio")

LANGS = ("en", "zh-CN")
COOKIE = "studio_lang"
LOCALES = Path(__file__).parent / "locales"
_PLACEHOLDER = re.compile(r"\{[^{}]+\}")
_LETTERS = re.compile(r"[A-Za-z]{2,}")
SEPARATORS = ("\n", " · ")  # text built line by line, or from parts joined with " · ", is translated part by part

_LANG = __import__("contextvars").ContextVar("studio_lang", default=None)  # set per event (studio/ui/patches.py)

# The language of the request being served outside an event the UI layer wrapped; studio/ui/i18n.py puts in
# Gradio's (this module imports no gradio).
request_fallback: Callable[[], str] = lambda: "en"

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
    """The language of the event being handled (set by studio/ui/patches.py, or by :func:`using`), else that of
    the request Gradio is running a function for (:data:`request_fallback`), else English."""
    lang = _LANG.get()
    return lang if lang is not None else request_fallback()


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
        # a value never spans a " · " (parts of a line are translated one by one when no template has them all), nor
        # a line break unless the template has one: "**{k}**: {v}" must not swallow a two-line message whose first
        # line is "**Done**: …" (the lines are translated one by one instead)
        value = "((?:(?! · ).)*?)" if "\n" in template else "((?:(?! · )[^\n])*?)"
        pattern = "".join(re.escape(p) + (value if i < len(names) else "") for i, p in enumerate(parts))
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


def is_text(text) -> bool:
    """Whether a string is words a reader reads (has a word of two letters), not a number, key or symbol."""
    return isinstance(text, str) and bool(_LETTERS.search(text))


_IDENTIFIER = re.compile(r"^[A-Za-z0-9_.]+[-/_][A-Za-z0-9_./-]+$")


def is_identifier(text) -> bool:
    """A model key or Hub id (``mnist-ddpm``, ``google/ddpm-cifar10-32``): a name, never translated."""
    return isinstance(text, str) and bool(_IDENTIFIER.match(text))
