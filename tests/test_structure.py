"""The layering the design asks for, checked on the source: the Gradio layer in studio/ui/ (and each family's
tab.py and its *_tab.py parts), tabs that do no tensor work, and no import cycles inside studio/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STUDIO = Path(__file__).resolve().parents[1] / "studio"


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def sources():
    return sorted(p for p in STUDIO.rglob("*.py"))


def is_tab(path: Path) -> bool:
    """A family's tab: its ``tab.py``, or a part of it in ``*_tab.py`` (the Text tab's inside-the-model views)."""
    return path.name == "tab.py" or path.name.endswith("_tab.py")


def test_only_the_ui_package_and_the_tabs_import_gradio():
    offenders = [str(p.relative_to(STUDIO)) for p in sources()
                 if any(m == "gradio" or m.startswith("gradio.") or m.startswith("gradio_client") for m in imports(p))
                 and not (p.is_relative_to(STUDIO / "ui") or is_tab(p))]
    assert not offenders, f"import gradio outside studio/ui/ and the tabs: {offenders}"


@pytest.fixture(scope="module")
def studio_demo():
    from studio.catalog import builtin_specs
    from studio.config import REPO_ROOT, Settings
    from studio.registry import ModelRegistry
    from studio.ui.app import build_studio

    settings = Settings(max_diffusion_steps=37, max_batch=3)
    return build_studio(ModelRegistry(builtin_specs(REPO_ROOT / "checkpoints"), device="cpu"), settings,
                        localize=False)


def test_the_page_links_and_recipes_read_one_list_of_tabs(studio_demo):
    """studio/tabs.py is the one list: the page's tabs in its order, each main button there, a link carrying no
    Hub id, recipe box or password from any tab, and a recipe family for each engine module."""
    import gradio as gr

    from studio.recipe import engine_actions
    from studio.tabs import ENGINE_MODULES, TABS
    from studio.ui.share import RUN_BUTTONS, shareable_controls

    page_tabs = [b for b in studio_demo.blocks.values() if isinstance(b, gr.Tab)]
    assert [t.id for t in page_tabs] == [t.id for t in TABS]
    assert [t.label for t in page_tabs] == [t.title for t in TABS]
    by_id = {getattr(b, "elem_id", None): b for b in studio_demo.blocks.values()}
    assert {t.id: type(by_id[t.run_button]) for t in TABS if t.run_button} == {
        tab: gr.Button for tab in ("text", "vae", "gan", "diffusion", "t2i", "lab", "families")}
    assert RUN_BUTTONS["gan"] == "gan-sample"
    hub_boxes = {e for e in by_id if e and e.endswith("-hub-id")}
    assert hub_boxes >= {"text-hub-id", "vae-hub-id", "gan-hub-id", "diff-hub-id", "t2i-hub-id"}
    shared = {b.elem_id for blocks in shareable_controls(studio_demo).values() for b in blocks}
    assert not shared & hub_boxes
    assert not {e for e in shared if e.endswith("-recipe")}
    assert "models-host-token" in by_id and "models-host-token" not in shared
    assert {"diff-scheduler", "t2i-prompt", "gan-seed", "text-temperature"} <= shared
    assert {family for family, _ in engine_actions()} == set(ENGINE_MODULES) == {"text", "vae", "gan", "diffusion",
                                                                                 "t2i"}


def test_both_diffusion_tabs_show_the_shared_views_alike(studio_demo):
    """The scrubber, guidance view, comparison with its quiz, img2img source and export are one builder
    (studio/diffusion/views_tab.py): the same controls, labels and choices on both tabs, and η enabled as the first
    scheduler needs (both tabs open on one that ignores η)."""
    import gradio as gr

    by_id = {getattr(b, "elem_id", None): b for b in studio_demo.blocks.values()}
    shared = ["xt", "x0", "eps", "scrub", "schedule", "guidance-view", "guidance-note", "cmp-schedulers", "cmp-nfe",
              "compare", "quiz", "reveal", "cmp", "cmp-note", "export", "gif", "png", "recipe", "python", "apply", "eta"]
    for suffix in shared:
        pixel, latent = by_id[f"diff-{suffix}"], by_id[f"t2i-{suffix}"]
        assert type(pixel) is type(latent), suffix
        if suffix in ("quiz", "reveal", "cmp", "scrub", "schedule", "cmp-schedulers", "eta", "recipe", "python",
                      "apply", "export"):
            assert pixel.label == latent.label, suffix
    assert by_id["diff-cmp-schedulers"].choices == by_id["t2i-cmp-schedulers"].choices
    for prefix, first in (("diff", "Euler ancestral"), ("t2i", "DPM-Solver++ 2M")):
        assert by_id[f"{prefix}-scheduler"].value == first and by_id[f"{prefix}-eta"].interactive is False
    img2img = {"diff": ("i2i-src", "i2i-index", "i2i-strength", "i2i-upload", "i2i-sketch"),
               "t2i": ("src", "src-index", "strength", "src-upload", "src-sketch")}
    pixel, latent = ([by_id[f"{p}-{s}"] for s in img2img[p]] for p in ("diff", "t2i"))
    assert [type(b) for b in pixel] == [type(b) for b in latent] == [gr.Radio, gr.Number, gr.Slider, gr.Image,
                                                                    gr.Sketchpad]
    assert [b.label for b in pixel] == [b.label for b in latent]
    assert pixel[0].choices == latent[0].choices


def test_the_diffusion_engine_defaults_are_the_tabs_and_the_cards(studio_demo):
    """A notebook call with the engine's defaults draws what the tab draws with its own, at the setting the
    card's quality figure is measured at; limits come from Settings."""
    import inspect

    from studio.diffusion import engine, evaluate

    demo = studio_demo
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    tab = {"scheduler": by_id["diff-scheduler"].value, "steps": by_id["diff-steps"].value,
           "guidance": by_id["diff-guidance"].value}
    assert tab == evaluate.DEFAULTS
    for fn in (engine.sample, engine.iterate):
        params = inspect.signature(inspect.unwrap(fn)).parameters
        assert {k: params[k].default for k in tab} == tab, fn.__name__
    compare = inspect.signature(inspect.unwrap(engine.compare)).parameters
    assert compare["guidance"].default == tab["guidance"]
    assert list(compare["schedulers"].default) == by_id["diff-cmp-schedulers"].value
    assert compare["nfe_budget"].default == by_id["diff-cmp-nfe"].value
    assert by_id["diff-steps"].maximum == 37 and by_id["diff-batch"].maximum == 3


def module_name(path: Path) -> str:
    rel = path.relative_to(STUDIO.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """studio module -> the studio modules it imports (anywhere in it: a function-level import is still a
    dependency, it only runs later). The package ``studio`` itself (its __init__ holds the version) is left out."""
    modules = {module_name(p): p for p in sources()}
    graph = {}
    for name, path in modules.items():
        deps = {m for m in imports(path) if m in modules and m != "studio" and m != name}
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles_inside_studio():
    graph = import_graph()
    assert "studio.registry" in graph and "studio.loading" in graph["studio.registry"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_over_450_lines_without_a_reason_at_its_top():
    long = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > 450 and "Why this module is long:" not in doc:
            long.append(f"{path.relative_to(STUDIO)} ({n} lines)")
    assert not long, f"split these, or say at the top why not ('Why this module is long: ...'): {long}"


def test_no_tab_imports_torch():
    """A tab lays out and wires; the tensor work (and the pictures made from tensors) is in the engines."""
    offenders = [str(p.relative_to(STUDIO)) for p in sources() if is_tab(p)
                 and any(m == "torch" or m.startswith("torch.") for m in imports(p))]
    assert not offenders, f"tabs that import torch: {offenders}"
