"""The API describes itself: every parameter of every named endpoint has a name that says what it is, and every
handler a docstring whose `Args:` explain each parameter (what "Use via API", gradio_client and MCP show)."""

import re

import pytest
from gradio import utils as gr_utils

from studio.config import Settings
from studio.registry import ModelRegistry
from studio.ui.app import build_studio
from tests.helpers import tiny_family_specs


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    registry = ModelRegistry(tiny_family_specs(tmp_path_factory.mktemp("api")), device="cpu")
    return build_studio(registry, Settings())


def bad_names(demo) -> list[str]:
    bad = []
    for name, endpoint in demo.get_api_info()["named_endpoints"].items():
        for p in endpoint["parameters"]:
            pname = p["parameter_name"]
            if re.fullmatch(r"param_\d+", pname) or len(pname) <= 2:
                bad.append(f"{name}: {pname}")
    return bad


def test_no_endpoint_takes_param_n_or_one_or_two_letter_names(demo):
    info = demo.get_api_info()["named_endpoints"]
    assert len(info) >= 31
    assert bad_names(demo) == []
    assert [p["parameter_name"] for p in info["/text_generate"]["parameters"]][:4] == [
        "model", "prompt", "mode", "temperature"]
    assert "guidance_scale" in [p["parameter_name"] for p in info["/diffusion_run"]["parameters"]]
    assert "corner_c_digit" in [p["parameter_name"] for p in info["/vae_grid"]["parameters"]]


def test_every_handler_documents_every_parameter(demo):
    missing = []
    for fn in demo.fns.values():
        if fn.api_visibility != "public" or not fn.api_name:
            continue
        description, params, _ = gr_utils.get_function_description(fn.fn)
        if not description:
            missing.append(f"{fn.api_name}: no docstring")
        names = demo.get_api_info()["named_endpoints"][f"/{fn.api_name}"]["parameters"]
        for p in names:
            if not params.get(p["parameter_name"]):
                missing.append(f"{fn.api_name}: {p['parameter_name']} has no Args: entry")
    assert missing == []


def test_the_check_catches_an_unnamed_parameter(tmp_path):
    """The guard itself: an event whose handler takes *args shows param_N and is caught."""
    import gradio as gr

    with gr.Blocks() as blocks:
        a, b = gr.Number(), gr.Number()
        out = gr.Number()
        gr.Button().click(lambda *values: sum(values), [a, b], out, api_name="adds")
        gr.Button().click(lambda x, y: x, [a, b], out, api_name="short")
    assert sorted(bad_names(blocks)) == ["/adds: param_0", "/adds: param_1", "/short: x", "/short: y"]
