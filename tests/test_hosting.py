"""A Space and a classroom are safe by default (studio/config.py, studio/hosting.py, the Models tab): hosted mode
comes on by itself where the studio is served to others, and the host's actions stay with the host."""

from __future__ import annotations

import pytest

from studio.config import Settings
from studio.hosting import HostPolicy, Visitor, visiting
from tests.helpers import launched


@pytest.mark.parametrize("env, hosted, why", [
    ({}, False, "127.0.0.1 only"),
    ({"SPACE_ID": "teacher/studio"}, True, "a Hugging Face Space (SPACE_ID=teacher/studio)"),
    ({"GRADIO_SERVER_NAME": "0.0.0.0"}, True, "listening on 0.0.0.0"),
    ({"GRADIO_SERVER_NAME": "192.168.1.20"}, True, "listening on 192.168.1.20"),
    ({"GRADIO_SERVER_NAME": "localhost"}, False, "localhost only"),
    ({"GRADIO_SERVER_NAME": "0.0.0.0", "STUDIO_HOSTED": "0"}, False, "STUDIO_HOSTED=0"),
    ({"SPACE_ID": "a/b", "STUDIO_HOSTED": "no"}, False, "STUDIO_HOSTED=no"),
    ({"STUDIO_HOSTED": "1"}, True, "STUDIO_HOSTED=1"),
])
def test_hosted_mode_comes_on_where_the_studio_is_served_to_others_and_says_why(env, hosted, why):
    s = Settings.from_env(env)
    assert s.hosted is hosted and why in s.hosted_reason
    assert (s.allow_hub, s.allow_local_models) == ((False, False) if hosted else (True, True))
    line = s.describe()
    assert line.startswith("Hosted mode" if hosted else "Local mode") and why in line
    if hosted:
        assert s.max_batch == 8 and s.max_new_tokens == 200 and s.state_minutes == 10 and s.max_file_mb == 8


def test_hosted_the_catalog_is_the_built_ins_and_what_the_host_listed(tmp_path):
    from studio.catalog import default_catalog

    hosted = Settings.from_env({"SPACE_ID": "a/b", "STUDIO_MODELS": "gpt2, t2i:someone/tiny-sd",
                                "STUDIO_CHECKPOINTS": str(tmp_path)})
    keys = {s.key: s for s in default_catalog(hosted)}
    assert set(keys) == {"gpt2", "someone/tiny-sd"}  # no built-ins in an empty folder, no other Hub model
    assert keys["someone/tiny-sd"].family == "t2i" and keys["someone/tiny-sd"].loader == "diffusers-sd"
    assert not any(s.added for s in keys.values())  # listed by the host: they download when first used
    local = {s.key for s in default_catalog(Settings.from_env({"STUDIO_CHECKPOINTS": str(tmp_path)}))}
    assert {"gpt2", "sd-vae-ft-mse", "ddpm-cifar10-32"} <= local
    with pytest.raises(ValueError, match="STUDIO_MODELS: 'nonsense' is neither a known Hub model"):
        default_catalog(Settings.from_env({"STUDIO_MODELS": "nonsense"}))


def test_who_is_the_host():
    space = HostPolicy(hosted=True, token="s3cret", on_space=True, reason="a Space")
    here = Visitor(session="a", client="127.0.0.1")
    assert not space.is_host(here)  # on a Space every request comes through its proxy: loopback means nothing
    assert space.is_host(Visitor(session="b", client="10.0.0.9", headers={"x-studio-host-token": "s3cret"}))
    assert not space.is_host(Visitor(session="b", client="10.0.0.9", headers={"x-studio-host-token": "guess"}))
    assert not space.sign_in("guess", Visitor(session="c")) and not space.is_host(Visitor(session="c"))
    assert space.sign_in("s3cret", Visitor(session="c")) and space.is_host(Visitor(session="c"))
    assert not space.is_host(Visitor(session="d"))  # another page
    classroom = HostPolicy(hosted=True, token=None, on_space=False, reason="listening on 0.0.0.0")
    assert classroom.is_host(here)  # the teacher at the server
    assert not classroom.is_host(Visitor(session="e", client="192.168.1.31"))  # a student's laptop
    assert not classroom.is_host(Visitor(session="f", client="127.0.0.1", headers={"x-forwarded-for": "1.2.3.4"}))
    assert not classroom.sign_in("", Visitor(session="e"))  # no token set: nobody signs in
    assert HostPolicy(hosted=False).is_host(Visitor(client="192.168.1.31"))  # not hosted: whoever uses it
    with visiting(Visitor(session="e", client="192.168.1.31")):
        with pytest.raises(Exception, match=r"Only the host may unload a model on this studio, which is served to "
                                            r"others \(listening on 0.0.0.0\)"):
            classroom.require_host("unload a model")


@pytest.fixture(scope="module")
def tiny_specs(tmp_path_factory):
    from tests.helpers import tiny_family_specs

    return tiny_family_specs(tmp_path_factory.mktemp("hosted"))


def test_on_a_space_visitors_cannot_load_unload_or_add_models_and_the_host_can(tiny_specs, tiny_text_dir, tmp_path):
    import shutil

    from gradio_client import Client

    from studio.registry import ModelRegistry

    reg = ModelRegistry(tiny_specs, device="cpu", allow_hub=False, allow_local=True)
    reg.get("tiny-gan")
    settings = Settings(hosted=True, on_space=True, host_token="s3cret", hosted_reason="a Hugging Face Space",
                        allow_hub=False, allow_local_models=True)
    folder = shutil.copytree(tiny_text_dir, tmp_path / "my-lm")
    with launched(reg, settings) as visitor:
        for name, args in (("/models_unload", ("tiny-gan",)), ("/models_unload_all", ()),
                           ("/models_load", ("tiny-text",)), ("/models_load_builtin", ()),
                           ("/text_add_model", (str(folder),))):
            with pytest.raises(Exception, match="Only the host may"):
                visitor.predict(*args, api_name=name)
        assert reg.is_loaded("tiny-gan") and not reg.is_loaded("tiny-text") and "my-lm" not in reg.keys()
        with pytest.raises(Exception, match="That is not the host token"):
            visitor.predict("guess", api_name="/models_host_sign_in")
        url = visitor.src
        host = Client(url, verbose=False, ssl_verify=False, headers={"X-Studio-Host-Token": "s3cret"})  # an API client with the token
        host.predict("tiny-gan", api_name="/models_unload")
        host.close()
        assert not reg.is_loaded("tiny-gan")
        assert "signed in as the host" in visitor.predict("s3cret", api_name="/models_host_sign_in").lower()
        visitor.predict("tiny-text", api_name="/models_load")  # the same session, now the host's
        assert reg.is_loaded("tiny-text")
        visitor.predict(str(folder), api_name="/text_add_model")
        assert "my-lm" in reg.keys()
        student = Client(url, verbose=False, ssl_verify=False)  # another session is still a visitor
        with pytest.raises(Exception, match="Only the host may"):
            student.predict("tiny-text", api_name="/models_unload")
        student.close()


def test_off_a_space_the_machine_itself_is_the_host(tiny_specs):
    from studio.registry import ModelRegistry

    reg = ModelRegistry(tiny_specs, device="cpu", allow_hub=False)
    reg.get("tiny-gan")
    settings = Settings(hosted=True, on_space=False, hosted_reason="listening on 0.0.0.0", allow_hub=False,
                        allow_local_models=False)
    with launched(reg, settings) as here:  # this test's client is on 127.0.0.1, as the teacher at the server
        here.predict("tiny-gan", api_name="/models_unload")
        assert not reg.is_loaded("tiny-gan")
        markdown = here.predict(api_name="/models_status")[1]
        assert "tiny-gan" not in markdown.split("loaded:")[-1]


# --- every seed the page accepts works --------------------------------------------------------------------------

def test_the_last_seed_works_in_every_tab_and_image_i_is_its_wrapped_seed_alone(tiny_specs, tiny_sd_dir):
    import torch

    from studio.diffusion import engine
    from studio.diffusion.text_to_image import engine as t2i_engine
    from studio.diffusion.text_to_image import tab as t2i
    from studio.diffusion import tab
    from studio.registry import ModelRegistry, ModelSpec

    reg = ModelRegistry([*tiny_specs, ModelSpec(key="tiny-sd", family="t2i", source=str(tiny_sd_dir),
                                                loader="diffusers-sd", builtin=True)], device="cpu")
    top = 2**32 - 1
    ctx = tab.DiffusionContext.of(reg, Settings())
    run = list(tab.diffusion_run(ctx, model="tiny-unet", steps=3, digit="any", seed=top, batch_size=2))[-1][7]
    assert run.seeds == [top, 0]
    alone = engine.run(reg.get("tiny-unet"), seed=0, steps=3, digit="any", batch=1)
    assert run.labels[1] == alone.labels[0]
    torch.testing.assert_close(run.x_t[-1][1], alone.x_t[-1][0], atol=1e-5, rtol=0)
    tctx = t2i.TextToImageContext.of(reg, Settings())
    trun = list(t2i.t2i_run(tctx, model="tiny-sd", prompt="a seven", steps=2, seed=top, batch_size=2,
                            variation_seed=top, variation_strength=0.5))[-1]
    trun = next(o for o in trun if isinstance(o, t2i_engine.TextToImageRun))
    assert trun.seeds == [top, 0]


# --- bounded uploads and work ----------------------------------------------------------------------------------

def png_claiming(path, width: int, height: int, text: dict | None = None):
    """A PNG file whose header says ``width`` × ``height`` (a decompression bomb's header: a few bytes on disk), with
    optional text chunks before its (empty) pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    for k, v in (text or {}).items():
        body += chunk(b"tEXt", k.encode() + b"\0" + v.encode())
    body += chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def test_an_image_over_the_limit_is_refused_from_its_header_by_the_studio_and_by_gradio(tmp_path, monkeypatch):
    from PIL import Image, ImageFile

    from studio import data
    from studio.diffusion.text_to_image.recipes_tab import RECIPE_CHUNK, recipe_in_png

    data.limit_decoding(1_000_000)
    bomb = png_claiming(tmp_path / "bomb.png", 50_000, 50_000, {RECIPE_CHUNK: '{"family": "t2i"}'})
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1))
    with pytest.raises(ValueError, match="bomb.png is far too large; at most 1,000,000 pixels"):
        data.open_image(bomb)
    with pytest.raises(Exception, match="far too large"):
        recipe_in_png(bomb)
    import gradio as gr
    from gradio.data_classes import FileData

    editor = gr.Sketchpad(type="pil")  # Gradio's own decoding of a drawing refuses it from the header too
    with pytest.raises((Image.DecompressionBombError, Image.DecompressionBombWarning)):
        editor.convert_and_format_image(FileData(path=str(bomb)))
    between = png_claiming(tmp_path / "between.png", 1100, 1000, {})  # over the limit, under twice it: Pillow
    with pytest.raises(Image.DecompressionBombWarning):  # only warns there, and the studio makes that an error
        editor.convert_and_format_image(FileData(path=str(between)))
    assert decoded == []  # not one pixel decoded
    small = png_claiming(tmp_path / "small.png", 900, 1000, {RECIPE_CHUNK: "{not json"})
    with pytest.raises(Exception, match="recipe"):  # read from its text chunk, and still no pixel decoded
        recipe_in_png(small)
    assert decoded == []


def test_launch_limits_file_sizes_and_hosted_state_lasts_minutes(tiny_specs):
    from studio.registry import ModelRegistry
    from studio.ui.app import build_studio, launch_kwargs

    hosted = Settings.from_env({"STUDIO_HOSTED": "1"})
    assert launch_kwargs(hosted)["max_file_size"] == "8mb" and launch_kwargs()["max_file_size"] == "20mb"
    demo = build_studio(ModelRegistry(tiny_specs, device="cpu"), hosted, localize=False)
    import gradio as gr

    kept = [b for b in demo.blocks.values() if isinstance(b, gr.State) and b.value is None]
    assert len(kept) >= 6 and {b.time_to_live for b in kept} == {600.0}  # runs, trainers, quizzes: 10 minutes
    assert demo.delete_cache == (600, 600)


def test_work_is_bounded_in_total_with_a_message_that_says_what_to_lower(tiny_specs, tiny_sd_dir):
    from studio.diffusion.text_to_image import tab as t2i
    from studio.diffusion import tab
    from studio.registry import ModelRegistry, ModelSpec

    reg = ModelRegistry([*tiny_specs, ModelSpec(key="tiny-sd", family="t2i", source=str(tiny_sd_dir),
                                                loader="diffusers-sd", builtin=True)], device="cpu")
    size = reg.get("tiny-unet").sample_size
    limit = 60 * 4 * size * size  # 30 guided steps of 4 images
    ctx = tab.DiffusionContext.of(reg, Settings(max_work=limit))
    with pytest.raises(ValueError, match=rf"\(100 model evaluations × 4 picture\(s\) × {size * size:,} positions\); "
                                         rf"this server takes at most {limit:,} per request \(STUDIO_MAX_WORK\)\. "
                                         r"Lower the steps, the batch size"):
        list(tab.diffusion_run(ctx, model="tiny-unet", steps=50, guidance_scale=3.0, batch_size=4))
    assert list(tab.diffusion_run(ctx, model="tiny-unet", steps=5, guidance_scale=3.0, batch_size=1))  # within it
    with pytest.raises(ValueError, match="units of work"):
        tab.diffusion_compare(ctx, model="tiny-unet", nfe_budget=40, batch_size=4, schedulers=["DDIM", "Euler"])
    tctx = t2i.TextToImageContext.of(reg, Settings(max_work=limit))
    with pytest.raises(ValueError, match="units of work.* Lower the steps, the batch size, the size, the number of "
                                         "cells"):
        t2i.t2i_grid(tctx, model="tiny-sd", guidances="1, 2, 4, 8, 6, 3", steps_list="20, 20, 20, 20, 20, 20")


def test_exports_do_not_pile_up(tmp_path, monkeypatch):
    import os
    import tempfile
    import time

    from studio.ui import common

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old = common.export_folder("gif-")
    (old / "walk.gif").write_bytes(b"GIF89a")
    past = time.time() - common.EXPORT_KEEP_S - 60
    os.utime(old, (past, past))
    new = common.export_folder("gif-")
    assert new.is_dir() and not old.exists()


# --- shared state ----------------------------------------------------------------------------------------------

def test_the_catalog_is_read_under_its_lock_while_another_user_adds_models():
    import threading

    from studio.registry import ModelRegistry, ModelSpec

    reg = ModelRegistry([], device="cpu")
    errors, stop = [], threading.Event()

    def add():
        for i in range(3000):
            reg.register(ModelSpec(key=f"m{i}", family="text", source=f"owner/m{i}",
                                   loader="transformers-causal-lm"))
        stop.set()

    def read():
        while not stop.is_set():
            try:
                reg.status(), reg.specs("text"), reg.keys()
            except RuntimeError as err:  # "dictionary changed size during iteration"
                errors.append(err)
                return

    threads = [threading.Thread(target=add), threading.Thread(target=read), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(reg.keys()) == 3000


def test_a_gan_folders_snapshot_list_cannot_point_outside_the_folder(tiny_gan_dir, tmp_path):
    import json
    import shutil

    from studio.gan.engine import training_story
    from studio.registry import ModelRegistry, ModelSpec

    folder = shutil.copytree(tiny_gan_dir, tmp_path / "gan")
    (folder / "snapshots").mkdir()
    (folder / "snapshots" / "step_1.png").write_bytes(b"png")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not the model's")
    (folder / "snapshots.json").write_text(json.dumps([
        {"file": "snapshots/step_1.png", "step": 1}, {"file": "../secret.png", "step": 2},
        {"file": str(secret), "step": 3}, {"file": "config.json", "step": 4}]))
    reg = ModelRegistry([ModelSpec(key="g", family="gan", source=str(folder), loader="mixin:studio.gan.model:Generator")],
                        device="cpu")
    story = training_story(reg.get("g"))
    assert [step for _, step, _ in story["snapshots"]] == [1]


def test_a_folder_that_is_not_a_model_folder_is_not_walked(tmp_path):
    from studio.loading import MODEL_ENTRIES, model_files
    from studio.registry import ModelRegistry

    big = tmp_path / "home"
    for i in range(MODEL_ENTRIES // 100 + 1):
        d = big / f"d{i}"
        d.mkdir(parents=True)
        for j in range(100):
            (d / f"f{j}.txt").touch()
    with pytest.raises(Exception, match="is not a model folder"):
        model_files(big)
    with pytest.raises(Exception, match="is not a model folder"):
        ModelRegistry([], device="cpu").add_model("text", str(big))


def test_the_lru_holds_every_built_in_the_families_tab_needs():
    from studio import families
    from studio.catalog import builtin_specs
    from studio.config import REPO_ROOT
    from studio.registry import ModelRegistry

    reg = ModelRegistry(builtin_specs(REPO_ROOT / "checkpoints"), device="cpu", max_loaded=Settings().max_loaded)
    families.compare(reg, digit="3", seed=1, n=2, nfe=2)
    loaded = {k: reg.load_count(k) for k in reg.loaded_keys()}
    assert len(loaded) >= 5  # the VAE, the GAN, the pixel DDPM, the text-to-image model and the judge
    families.compare(reg, digit="4", seed=2, n=2, nfe=2)
    assert {k: reg.load_count(k) for k in loaded} == loaded  # none of them was evicted and loaded again


def test_a_first_use_loads_the_model_before_the_handler_asks_for_the_compute_gate(tiny_specs, monkeypatch):
    from studio.gan import tab
    from studio.registry import ModelRegistry
    from studio.serving import serving_of
    from studio.ui.app import build_studio
    from studio.ui.wiring import wired

    reg = ModelRegistry(tiny_specs, device="cpu")
    build_studio(reg, Settings(), localize=False)
    gate, busy_at_load = serving_of(reg).gate, []
    real_get = reg.get

    def get(key):
        if not reg.is_loaded(key):
            busy_at_load.append(gate.busy)
        return real_get(key)

    monkeypatch.setattr(reg, "get", get)
    walk = wired(tab.gan_walk, tab.GanContext.of(reg, Settings()), gpu=True)
    walk("tiny-gan", "any", 0, 2)
    assert busy_at_load == [0]  # loaded (a Hub download, for a Hub model) while the gate was free
