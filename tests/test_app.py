"""The app built from a registry of tiny models, launched, and driven through gradio_client."""

import pytest
from gradio_client import Client

from studio.config import Settings
from studio.registry import ModelRegistry, ModelSpec
from studio.ui.app import build_studio, launch_kwargs
from tests.helpers import free_port


@pytest.fixture(scope="module")
def launched(tiny_text_dir, tiny_unet_dir, tmp_path_factory):
    broken = tmp_path_factory.mktemp("broken") / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    specs = [ModelSpec(key="tiny-text", family="text", source=str(tiny_text_dir), loader="transformers-causal-lm",
                       builtin=True),
             ModelSpec(key="tiny-unet", family="diffusion", source=str(tiny_unet_dir), loader="diffusers-unet",
                       builtin=True),
             ModelSpec(key="broken", family="text", source=str(broken), loader="transformers-causal-lm")]
    registry = ModelRegistry(specs, device="cpu", max_loaded=4)
    demo = build_studio(registry, Settings())
    demo.queue(max_size=16)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True, **launch_kwargs())
    client = Client(f"http://127.0.0.1:{port}/", verbose=False, ssl_verify=False)
    yield registry, demo, client
    client.close()
    demo.close()


def rows_by_key(table):
    headers, data = table["headers"], table["data"]
    return {row[0]: dict(zip(headers, row)) for row in data}


def test_models_status_answers_with_no_arguments(launched):
    _, _, client = launched
    table, memory = client.predict(api_name="/models_status")
    rows = rows_by_key(table)
    assert set(rows) == {"tiny-text", "tiny-unet", "broken"}
    assert rows["tiny-text"]["loaded"] == "no" and rows["tiny-text"]["origin"] == "built-in"
    assert "Device:" in memory and "cpu" in memory


def test_load_and_unload_through_the_api(launched):
    registry, _, client = launched
    table, memory, note = client.predict("tiny-unet", api_name="/models_load")
    assert rows_by_key(table)["tiny-unet"]["loaded"] == "yes" and "Loaded **tiny-unet**" in note
    assert registry.is_loaded("tiny-unet")
    table, _, note = client.predict("tiny-unet", api_name="/models_unload")
    assert rows_by_key(table)["tiny-unet"]["loaded"] == "no" and not registry.is_loaded("tiny-unet")
    table, _, note = client.predict(api_name="/models_load_builtin")
    rows = rows_by_key(table)
    assert rows["tiny-text"]["loaded"] == "yes" and rows["tiny-unet"]["loaded"] == "yes"
    assert rows["broken"]["loaded"] == "no"  # not built-in: not warmed up
    table, _, note = client.predict(api_name="/models_unload_all")
    assert note == "Unloaded 2 model(s)." and registry.loaded_keys() == []


def test_failed_load_is_a_clear_error_and_the_app_keeps_serving(launched):
    registry, _, client = launched
    with pytest.raises(Exception, match="could not be loaded"):
        client.predict("broken", api_name="/models_load")
    table, _ = client.predict(api_name="/models_status")
    assert "could not be loaded" in rows_by_key(table)["broken"]["error"]
    _, _, note = client.predict("tiny-text", api_name="/models_load")
    assert "Loaded **tiny-text**" in note


def test_unknown_model_key_from_the_api(launched):
    _, _, client = launched
    with pytest.raises(Exception, match="Unknown model 'nope'"):
        client.predict("nope", api_name="/models_load")


def test_every_public_event_is_named_and_heavy_events_share_the_gpu_queue():
    import app

    for fn in app.demo.fns.values():
        if fn.api_visibility == "public":
            assert fn.api_name and not fn.api_name.startswith("lambda"), fn.name
    heavy = {fn.api_name for fn in app.demo.fns.values() if fn.concurrency_id == "gpu"}
    assert {"models_load", "models_load_builtin", "text_generate", "gan_grid", "vae_grid", "diffusion_run",
            "diffusion_compare"} <= heavy


def test_the_models_handlers_are_functions_a_test_calls_with_keyword_arguments(tiny_text_dir):
    from studio.errors import StudioError
    from studio.ui import models_tab

    registry = ModelRegistry([ModelSpec(key="tiny-text", family="text", source=str(tiny_text_dir),
                                        loader="transformers-causal-lm", builtin=True)], device="cpu")
    ctx = models_tab.ModelsContext(registry)
    table, memory, note = models_tab.models_load(ctx, model="tiny-text")
    assert "Loaded **tiny-text** on `cpu`" in note and registry.status()[0]["loaded"]
    assert models_tab.models_unload(ctx, model="tiny-text")[2] == "Unloaded **tiny-text**."
    assert not registry.status()[0]["loaded"]
    with pytest.raises(StudioError, match="Choose a model to load"):
        models_tab.models_load(ctx, model="")


def test_gradio_does_not_summarize_its_monitoring_after_every_event(launched):
    """Gradio's monitoring summary (a pandas table of the last 10,000 events, 5-10 ms of server CPU) is made after
    every event unless told otherwise; the studio, which does not serve that page, asks for one every 1000."""
    _, demo, client = launched
    for _ in range(3):
        client.predict(api_name="/models_status")
    queue = demo._queue
    assert queue.events_recorded >= 3
    assert queue.event_count_at_last_cache == 0  # none made yet (with Gradio's default: one after each event)
