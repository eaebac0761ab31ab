"""The studio as an MCP server (``python app.py`` with STUDIO_MCP=1, the default): its tools are the named
endpoints, described by their handlers' docstrings, and images come back as images (studio/ui/patches.py, 4)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import urllib.request

import pytest
from PIL import Image

from tests.helpers import launched, tiny_family_specs

pytest.importorskip("mcp", reason="the gradio[mcp] extra (requirements.txt) is not installed")


@pytest.fixture(scope="module")
def mcp_studio(tmp_path_factory):
    from studio.registry import ModelRegistry

    registry = ModelRegistry(tiny_family_specs(tmp_path_factory.mktemp("mcp-models")), device="cpu")
    with launched(registry, mcp=True) as client:
        yield client.src.rstrip("/")


def call_tool(url: str, name: str, arguments: dict):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def go():
        async with streamablehttp_client(f"{url}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                listed = [t.name for t in (await session.list_tools()).tools]
                return listed, await session.call_tool(name, arguments)
    return asyncio.run(asyncio.wait_for(go(), 120))


def test_the_schema_lists_the_families_tools_described_by_their_handlers(mcp_studio):
    from studio.diffusion.tab import diffusion_run
    from studio.gan.tab import gan_grid
    from studio.text.tab import text_generate

    with urllib.request.urlopen(f"{mcp_studio}/gradio_api/mcp/schema", timeout=30) as r:
        tools = {t["name"]: t for t in json.load(r)}
    for fn, params in ((text_generate, {"prompt", "temperature", "top_p", "seed", "max_new_tokens"}),
                       (gan_grid, {"digit", "seed", "grid_side", "truncation"}),
                       (diffusion_run, {"scheduler", "steps", "guidance_scale", "seed", "batch_size"})):
        tool = tools[fn.__name__]
        assert tool["description"].startswith(fn.__doc__.strip().split("\n")[0][:60])
        props = tool["inputSchema"]["properties"]
        assert params <= set(props), sorted(props)
        assert all(props[p].get("description") for p in params)  # each named parameter explained (Args:)
    assert "text_step" not in tools  # private events are not tools


def test_a_tool_called_through_an_mcp_client_answers_every_output_and_images_as_images(mcp_studio):
    listed, result = call_tool(mcp_studio, "gan_grid", {"model": "tiny-gan", "digit": "3", "grid_side": 2,
                                                        "seed": 5})
    assert {"text_generate", "gan_grid", "diffusion_run"} <= set(listed)
    assert not result.isError
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 4 and {c.mimeType for c in images} == {"image/png"}
    first = Image.open(io.BytesIO(base64.b64decode(images[0].data)))
    assert first.size[0] >= 28 and first.size[0] == first.size[1]
    texts = [c.text for c in result.content if c.type == "text"]
    assert sum(t.startswith("seed ") for t in texts) == 4  # each image's caption
    assert any("Diversity" in t for t in texts)  # the summary: one item per output, not one repr of all
    assert any('"family": "gan"' in t for t in texts)  # the recipe


def test_a_streaming_tool_with_session_state_answers_its_final_outputs(mcp_studio):
    _, result = call_tool(mcp_studio, "text_generate", {"model": "tiny-text", "prompt": "to be", "max_new_tokens": 6,
                                                        "seed": 3})
    assert not result.isError, result.content
    texts = [c.text for c in result.content if c.type == "text"]
    assert any("6 tokens" in t for t in texts), texts[:3]


@pytest.mark.parametrize("tool, arguments, done", [
    ("diffusion_run", {"model": "tiny-unet", "scheduler": "DDIM", "steps": 2, "seed": 4, "batch_size": 2}, "**Done**"),
    ("vae_interpolate", {"model": "tiny-vae-2d", "steps": 4}, None),
])
def test_other_family_tools_answer_through_mcp_what_the_http_api_answers(mcp_studio, tool, arguments, done):
    """The diffusion run (a stream with session state) and the VAE interpolation through an MCP client: images as
    images, and the same text as the same call through the HTTP API (gradio_client, the independent route)."""
    from gradio_client import Client

    _, result = call_tool(mcp_studio, tool, arguments)
    assert not result.isError, result.content
    via_api = Client(mcp_studio, verbose=False, ssl_verify=False).predict(**arguments, api_name=f"/{tool}")
    api_texts = [v for v in via_api if isinstance(v, str) and not v.startswith("/") and "gradio" not in v]
    mcp_texts = [c.text for c in result.content if c.type == "text"]
    images = [c for c in result.content if c.type == "image"]
    assert len(images) >= 3 and all(Image.open(io.BytesIO(base64.b64decode(c.data))).size[0] > 0 for c in images)
    assert api_texts and all(t in mcp_texts for t in api_texts), (api_texts, mcp_texts)
    if done:
        assert any(t.startswith(done) for t in mcp_texts)


def call_tools(url: str, calls: list[tuple[str, dict]]):
    """Each (tool, arguments) in one MCP session, in order: [(listed tools, result)]."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def go():
        async with streamablehttp_client(f"{url}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return [await session.call_tool(name, arguments) for name, arguments in calls]
    return asyncio.run(asyncio.wait_for(go(), 600))


# Tools whose text moves between two calls: a Play's steps per second; the process memory and the models loaded.
VARIES = ("lab_train", "models_")


def test_every_tool_answers_its_defaults_through_mcp_as_the_http_api_does(mcp_studio):
    """Every MCP tool called with its defaults: where the HTTP API (gradio_client) answers, MCP answers without an
    error and with images as images; where the API gives a clear message (a step that needs an earlier run, an
    empty recipe box), MCP gives the same message as an error. Every call on both routes is a session of its own
    (an MCP call is: test_no_mcp_call_sees_another_calls_run). (The two long defaults are shortened on both routes:
    a Lab Play of 2,000 steps and a 20-step diffusion run were 80 s of this test.)"""
    from gradio_client import Client

    short = {"lab_train": {"steps": 20, "frame_every": 10}, "diffusion_run": {"steps": 2}}

    with urllib.request.urlopen(f"{mcp_studio}/gradio_api/mcp/schema", timeout=30) as r:
        tools = sorted(t["name"] for t in json.load(r))
    assert len(tools) >= 30, tools
    api = Client(mcp_studio, verbose=False, ssl_verify=False)
    expected = {}
    for tool in tools:
        api.reset_session()  # each call a session of its own, as each MCP call is
        try:
            out = api.predict(**short.get(tool, {}), api_name=f"/{tool}")
            expected[tool] = ("answer", out if isinstance(out, tuple) else (out,))
        except Exception as err:  # noqa: BLE001 - the message is the expectation
            expected[tool] = ("error", str(err).strip())
    results = call_tools(mcp_studio, [(tool, short.get(tool, {})) for tool in tools])
    problems = []
    for tool, result in zip(tools, results):
        kind, want = expected[tool]
        texts = [c.text for c in result.content if c.type == "text"]
        if kind == "error":
            if not result.isError or not any(want in t for t in texts):
                problems.append(f"{tool}: the API says {want[:120]!r}, MCP {result.isError=} {str(texts)[:200]}")
            continue
        if result.isError:
            problems.append(f"{tool}: the API answers, MCP fails: {str(texts)[:300]}")
            continue
        for c in result.content:
            if c.type == "image":
                assert Image.open(io.BytesIO(base64.b64decode(c.data))).size[0] > 0, tool
        said = [v for v in want if isinstance(v, str) and v.strip() and not v.startswith("/") and "gradio" not in v]
        said += [item["caption"] for v in want if isinstance(v, list) for item in v  # a gallery's captions
                 if isinstance(item, dict) and item.get("caption")]
        if tool.startswith(VARIES):  # the same text up to the figures that move between two calls
            missing = [v for v in said if not any(re.sub(r"\d[\d.]*", "#", v)[:40] == re.sub(r"\d[\d.]*", "#", t)[:40]
                                                   for t in texts)]
        else:
            missing = [v for v in said if v not in texts]
        if missing:
            problems.append(f"{tool}: the API says {str(missing)[:150]}, MCP not: {str(texts)[:150]}")
    assert not problems, "\n".join(problems)
    assert sum(kind == "answer" for kind, _ in expected.values()) >= 20, expected


def test_no_mcp_call_sees_another_calls_run(mcp_studio):
    """Each MCP tool call is a Gradio session of its own (its gr.State starts from the default, as Gradio's warning
    says): a run made through MCP, or by a browser, is never handed to another call (Gradio's MCP server sent every
    call through one client, one Gradio session for all its users: one agent exported another's run)."""
    from gradio_client import Client

    run = {"model": "tiny-unet", "scheduler": "DDIM", "steps": 2, "seed": 5, "batch_size": 1}
    browser = Client(mcp_studio, verbose=False, ssl_verify=False)
    browser.predict(**run, api_name="/diffusion_run")
    assert browser.predict(model="tiny-unet", api_name="/diffusion_export")  # the browser's own run: exported
    ran, exported = call_tools(mcp_studio, [("diffusion_run", run), ("diffusion_export", {"model": "tiny-unet"})])
    assert not ran.isError, ran.content
    other, = call_tools(mcp_studio, [("diffusion_export", {"model": "tiny-unet"})])
    for result in (exported, other):
        assert result.isError and "Run the reverse process first" in result.content[0].text, result.content
