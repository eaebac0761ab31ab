"""List every string a user can read that a language's catalog lacks, and optionally add them (empty) to it.

    python scripts/i18n_extract.py              # report what studio/locales/zh-CN.json lacks
    python scripts/i18n_extract.py --write      # add the missing ones with "" (to be translated)
    python scripts/i18n_extract.py --prune      # drop messages the source no longer has

Two kinds of text are collected:
* ``ui``: the page as built by ``build_studio`` on the built-in models (labels, help text, Markdown panels,
  buttons, tab and accordion names, choice names);
* ``messages``: templates from the source, as written: the first argument of every ``raise SomeError(...)``,
  ``gr.Error``/``gr.Warning``/``gr.Info``, ``N_(...)`` and ``T_(...)`` (plot text) call in ``studio/``, an f-string's ``{expr}`` kept
  as the placeholder.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGE_CALLS = {"Error", "Warning", "Info", "N_", "T_"}
# Gradio's own messages that reach users (its components' input checks), kept in the catalog's messages too
GRADIO_MESSAGES = (
    "Value {num} is less than minimum value {minimum}.",
    "Value {num} is greater than maximum value {maximum}.",
    "Value: {value} (type: {type(value)}) is not in the list of choices: {choice_values}",
    "Invalid file type. Please upload a file that is one of these formats: {self.file_types}",
)


def template_of(node: ast.AST) -> str | None:
    """An f-string / string / concatenation as a template with ``{expr}`` placeholders; None if not literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(part.value)
            else:
                out.append("{" + ast.unparse(part.value) + "}")
        return "".join(out)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template_of(node.left), template_of(node.right)
        return None if left is None or right is None else left + right
    return None


def source_messages(root: Path = ROOT / "studio") -> dict[str, str]:
    """template -> "file:line" for every literal message in the studio's source."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        if path.name in ("train.py", "train_judge.py", "__main__.py"):
            continue  # command-line tools, not the studio's interface
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                calls.append(node.exc)
            elif isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in MESSAGE_CALLS:
                    calls.append(node)
        for call in calls:
            if not call.args:
                continue
            text = template_of(call.args[0])
            if text and any(c.isalpha() for c in text):
                found.setdefault(text, f"{path.relative_to(ROOT)}:{call.lineno}")
    return found


def stale_messages(data: dict, sources: dict | None = None) -> list[str]:
    """Catalog messages that neither the source nor Gradio's own checks produce any more."""
    sources = source_messages() if sources is None else sources
    return [m for m in data["messages"] if m not in sources and m not in GRADIO_MESSAGES]


def page_strings() -> list[str]:
    from studio.catalog import builtin_specs
    from studio.config import Settings
    from studio.ui.i18n import ui_strings
    from studio.registry import ModelRegistry
    from studio.ui.app import build_studio

    registry = ModelRegistry(builtin_specs(ROOT / "checkpoints"), device="cpu")
    demo = build_studio(registry, Settings(), localize=False)
    seen = []
    for _, _, text in ui_strings(demo):
        if isinstance(text, str) and text not in seen:
            seen.append(text)
    return seen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lang", default="zh-CN")
    p.add_argument("--write", action="store_true")
    p.add_argument("--prune", action="store_true")
    args = p.parse_args(argv)
    path = ROOT / "studio" / "locales" / f"{args.lang}.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"ui": {}, "messages": {}}
    sources = source_messages()
    missing = {"ui": [s for s in page_strings() if not data["ui"].get(s)],
               "messages": [s for s in sources if not data["messages"].get(s)]}
    stale = stale_messages(data, sources)
    print(f"messages no longer in the source: {len(stale)}")
    if args.prune:
        for s in stale:
            del data["messages"][s]
    for section, items in missing.items():
        print(f"{section}: {len(items)} missing")
        for s in items:
            print("  ", json.dumps(s, ensure_ascii=False)[:160])
    if args.write or args.prune:
        for section, items in missing.items():
            for s in items:
                data[section].setdefault(s, "")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
