"""The Gradio patches (studio/ui/patches.py): each patched Gradio function is the one they were checked against,
and the file-cache race fix: a result image written again while it is being read is never seen partial."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from studio.ui import patches


def hammer(save, cache_dir, rounds: int = 300) -> list[int]:
    """Save the same image over and over in one thread while another reads the cached file; the sizes read."""
    img = Image.fromarray((np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8))
    path = save(img, str(cache_dir), format="png")
    full = len(open(path, "rb").read())
    done = threading.Event()
    short: list[int] = []

    def writer():
        for _ in range(rounds):
            save(img, str(cache_dir), format="png")
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    while not done.is_set():
        n = len(open(path, "rb").read())
        if n != full:
            short.append(n)
    t.join()
    return short


def test_patches_make_cache_writes_atomic(tmp_path):
    from gradio import processing_utils as pu

    patches.install_cache_writes()
    assert getattr(pu.save_pil_to_cache, "_studio_atomic", False)
    assert hammer(pu.save_pil_to_cache, tmp_path) == []  # every read saw the whole file


def test_write_atomically_keeps_an_identical_file_and_replaces_a_different_one(tmp_path):
    path = tmp_path / "x.bin"
    patches.write_atomically(path, b"abc")
    inode = path.stat().st_ino
    patches.write_atomically(path, b"abc")
    assert path.stat().st_ino == inode and path.read_bytes() == b"abc"  # same bytes: left in place, touched
    patches.write_atomically(path, b"abcd")
    assert path.read_bytes() == b"abcd" and not list(tmp_path.glob(".x.bin.*"))  # no staging file left


def test_result_pngs_are_lossless_keep_gradios_metadata_and_use_the_fast_level(tmp_path):
    import io

    from gradio import processing_utils as pu

    patches.install_cache_writes()
    img = Image.fromarray((np.random.default_rng(1).random((64, 80)) > 0.7).astype(np.uint8) * 255, mode="L")
    img.info["studio"] = "seed 3"  # text metadata: Gradio's own encoder keeps it, so must ours
    path = pu.save_pil_to_cache(img, str(tmp_path), format="png")
    back = Image.open(path)
    assert np.array_equal(np.asarray(back), np.asarray(img)) and back.text.get("studio") == "seed 3"
    slow = io.BytesIO()
    img.save(slow, "png", pnginfo=pu.get_pil_metadata(img), compress_level=6)
    fast = patches.encode_png(img)
    assert open(path, "rb").read() == fast and fast != slow.getvalue()


def test_each_patched_gradio_function_is_the_one_the_patch_was_checked_against():
    import gradio

    changed = [name for name, digest in patches.PATCHED.items() if patches.source_digest(name) != digest]
    assert not changed, (f"Gradio {gradio.__version__} changed {changed} since {patches.GRADIO_CHECKED}: re-check "
                         "each patch in studio/ui/patches.py against the new source, then update its digest")


def test_source_digest_tells_functions_apart_and_names_a_bad_path():
    import pytest

    assert patches.source_digest("gradio.blocks.Blocks.process_api") != patches.source_digest(
        "gradio.blocks.Blocks.postprocess_data")
    with pytest.raises(AttributeError):
        patches.source_digest("gradio.blocks.Blocks.no_such_function")


def small_demo():
    import gradio as gr

    with gr.Blocks() as demo:
        text = gr.Textbox(label="in")
        image, note, code = gr.Image(label="image", format="png"), gr.Markdown(), gr.Code(language="python")
        text.change(lambda t: (gr.skip(), t, gr.skip()), text, [image, note, code], api_name="three")
    return demo, (image, note, code)


def test_skipped_outputs_answer_what_gradio_would_without_rebuilding_their_components():
    import asyncio

    import gradio as gr
    from gradio.state_holder import SessionState

    demo, (image, note, code) = small_demo()
    block_fn = demo.fns[0]
    predictions = [gr.skip(), "**hello**", gr.skip()]
    theirs = asyncio.run(demo.postprocess_data(block_fn, list(predictions), SessionState(demo)))
    patches.skip_unchanged_outputs(demo)
    state = SessionState(demo)
    ours = asyncio.run(demo.postprocess_data(block_fn, list(predictions), state))
    assert ours == theirs and ours[0] == {"__type__": "update"} and ours[1] == theirs[1]
    # Gradio replaced each skipped output's component by a copy built anew; ours are left as they were
    assert state[image._id] is image and state[code._id] is code
    everything = asyncio.run(demo.postprocess_data(block_fn, [gr.skip()] * 3, state))
    assert everything == [{"__type__": "update"}] * 3


def test_a_new_sessions_configs_are_computed_when_read_and_equal_gradios():
    from gradio import state_holder

    demo, (image, note, code) = small_demo()
    patches.lazy_session_configs()
    original = state_holder.SessionState.__init__._studio_original

    theirs = object.__new__(state_holder.SessionState)
    original(theirs, demo)
    theirs._update_value_in_config(note._id, "**set before read**")
    ours = state_holder.SessionState(demo)
    assert isinstance(ours.config_values, patches.LazyConfigs) and dict.__len__(ours.config_values) == 0
    ours._update_value_in_config(note._id, "**set before read**")  # Gradio's own: builds that block's config only
    assert dict.__len__(ours.config_values) == 1
    assert note._id in ours.config_values and len(ours.config_values) == len(theirs.config_values)
    assert list(ours.components) == list(theirs.components)  # a deep link sees the same page
    assert ours.config_values[note._id]["props"]["value"] == "**set before read**"


def test_no_studio_output_takes_gradios_unpatched_bytes_cache():
    """``save_bytes_to_cache`` rewrites a shared cache file in place (patch 1's race) and is not patched: only audio
    and video results (and MCP's SVG images) take it. A tab that adds one must bring the patch back."""
    import re

    from studio.config import REPO_ROOT

    found = [f"{p.relative_to(REPO_ROOT)}: {m.group(0)}" for p in sorted((REPO_ROOT / "studio").rglob("*.py"))
             for m in re.finditer(r"\bgr\.(Audio|Video|Model3D)\b|image/svg", p.read_text())]
    assert not found, found
