import gc
import shutil
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
import torch

from studio import loading
from studio.errors import HubUnavailableError, ModelLoadError, UnknownModelError, UnsafeCheckpointError
from studio.registry import ModelRegistry, ModelSpec
from tests import helpers


def text_spec(folder, key=None, loader="transformers-causal-lm"):
    return ModelSpec(key=key or folder.name, family="text", source=str(folder), loader=loader)


def copy_model(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_get_returns_ready_bundle(tiny_text_dir):
    reg = ModelRegistry([text_spec(tiny_text_dir)], device="cpu")
    bundle = reg.get("tiny-text")
    ids = bundle.tokenizer("hello")["input_ids"]
    logits = bundle.model(torch.tensor([ids])).logits  # (1, T, V)
    assert logits.shape == (1, 5, len(bundle.tokenizer))
    assert not bundle.model.training and not any(p.requires_grad for p in bundle.model.parameters())
    assert bundle.context_length == 64
    assert reg.get("tiny-text") is bundle  # cached


def test_loads_exactly_once_under_8_concurrent_threads(tiny_text_dir, monkeypatch):
    monkeypatch.setitem(loading.LOADERS, "slow-text", "tests.helpers:load_slow_text")
    helpers.LOAD_CALLS.clear()
    reg = ModelRegistry([text_spec(tiny_text_dir, loader="slow-text")], device="cpu")
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker():
        barrier.wait()  # all 8 ask at the same moment
        try:
            results.append(reg.get("tiny-text"))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert len(helpers.LOAD_CALLS) == 1
    assert reg.load_count("tiny-text") == 1


def test_lru_eviction_order_and_memory_freed(tiny_text_dir, tmp_path):
    dirs = [copy_model(tiny_text_dir, tmp_path / name) for name in ("a", "b", "c")]
    reg = ModelRegistry([text_spec(d) for d in dirs], device="cpu", max_loaded=2)
    a = reg.get("a")
    b_ref = weakref.ref(reg.get("b").model)
    assert reg.loaded_keys() == ["a", "b"]
    assert reg.get("a") is a  # touch a: b becomes least recently used
    assert reg.loaded_keys() == ["b", "a"]
    reg.get("c")  # over capacity: b goes
    assert reg.loaded_keys() == ["a", "c"]
    assert not reg.is_loaded("b")
    gc.collect()
    assert b_ref() is None, "the evicted model is still referenced somewhere: memory not freed"
    assert reg.get("b") is not None and reg.load_count("b") == 2  # reloads on demand
    assert reg.loaded_keys() == ["c", "b"]


def test_unload_and_unload_all(tiny_text_dir, tiny_unet_dir):
    reg = ModelRegistry([text_spec(tiny_text_dir), ModelSpec(key="unet", family="diffusion", source=str(tiny_unet_dir),
                                                              loader="diffusers-unet")], device="cpu")
    ref = weakref.ref(reg.get("tiny-text").model)
    reg.get("unet")
    assert reg.unload("tiny-text") is True
    assert reg.unload("tiny-text") is False
    gc.collect()
    assert ref() is None
    assert reg.loaded_keys() == ["unet"]
    assert reg.unload_all() == 1 and reg.loaded_keys() == []
    with pytest.raises(UnknownModelError, match="Unknown model 'nope'"):
        reg.unload("nope")


def test_status_rows(tiny_text_dir, tiny_unet_dir):
    reg = ModelRegistry([text_spec(tiny_text_dir), ModelSpec(key="unet", family="diffusion", source=str(tiny_unet_dir),
                                                              loader="diffusers-unet", description="tiny unet")],
                        device="cpu")
    rows = {r["key"]: r for r in reg.status()}
    assert set(rows) == {"tiny-text", "unet"}
    for r in rows.values():
        for col in ("key", "family", "source", "loaded", "device", "dtype", "params", "size_mb", "load_s"):
            assert col in r
        assert r["loaded"] is False
    # Before loading, parameter count and size come from the safetensors headers.
    unet_params_on_disk = rows["unet"]["params"]
    bundle = reg.get("unet")
    rows = {r["key"]: r for r in reg.status()}
    true_params = sum(p.numel() for p in bundle.unet.parameters())
    assert unet_params_on_disk == true_params
    assert rows["unet"]["loaded"] is True and rows["unet"]["params"] == true_params
    assert rows["unet"]["device"] == "cpu" and rows["unet"]["dtype"] == "float32"
    assert rows["unet"]["size_mb"] == pytest.approx(true_params * 4 / 1e6, rel=0.05)
    assert rows["unet"]["load_s"] > 0
    assert rows["unet"]["description"] == "tiny unet"


def test_diffusion_bundle_fields(tiny_unet_dir):
    reg = ModelRegistry([ModelSpec(key="unet", family="diffusion", source=str(tiny_unet_dir), loader="diffusers-unet")],
                        device="cpu")
    b = reg.get("unet")
    assert (b.num_classes, b.sample_size, b.in_channels) == (10, 8, 1)
    assert b.scheduler_config["_class_name"] == "DDPMScheduler"
    assert b.scheduler_config["num_train_timesteps"] == 1000


def test_offline_hub_model_names_it_and_says_how_to_get_it(tmp_path):
    spec = ModelSpec(key="gpt2", family="text", source="openai-community/gpt2", loader="transformers-causal-lm")
    reg = ModelRegistry([spec], device="cpu", offline=True, cache_dir=tmp_path / "hf-cache")
    with pytest.raises(HubUnavailableError) as info:
        reg.get("gpt2")
    msg = str(info.value)
    assert "openai-community/gpt2" in msg and "HF_HUB_OFFLINE=1" in msg and "hf download openai-community/gpt2" in msg
    assert "Traceback" not in msg
    assert reg.status()[0]["error"] == msg  # kept for the Models tab
    assert reg.loaded_keys() == []


def test_hub_off_by_policy(tmp_path):
    reg = ModelRegistry([], device="cpu", allow_hub=False, cache_dir=tmp_path)
    with pytest.raises(HubUnavailableError, match="STUDIO_ALLOW_HUB=0"):
        reg.add_hub_model("text", "gpt2")


def test_add_hub_model_checks_the_id(tmp_path):
    reg = ModelRegistry([], device="cpu", offline=True, cache_dir=tmp_path)
    with pytest.raises(Exception, match="is not a Hugging Face Hub id"):
        reg.add_hub_model("text", "../../etc/passwd")
    spec = reg.add_hub_model("text", "distilbert/distilgpt2")
    assert spec.family == "text" and not spec.is_local and spec.loader == "transformers-causal-lm"
    with pytest.raises(Exception, match="is a text model, not a vae model"):
        reg.add_hub_model("vae", "distilbert/distilgpt2")


def test_pickle_only_folder_is_refused_then_converted(tiny_text_dir, tmp_path):
    from safetensors.torch import load_file

    folder = copy_model(tiny_text_dir, tmp_path / "pickled")
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    reg = ModelRegistry([text_spec(folder)], device="cpu")
    with pytest.raises(UnsafeCheckpointError) as info:
        reg.get("pickled")
    assert "pytorch_model.bin" in str(info.value) and "python -m studio.convert" in str(info.value)
    assert reg.loaded_keys() == []

    from studio.convert import main as convert_main

    assert convert_main([str(folder)]) == 0
    assert (folder / "model.safetensors").is_file()
    assert reg.get("pickled") is not None  # the converted folder loads


def test_corrupt_checkpoint_gives_clear_error_and_registry_stays_usable(tiny_text_dir, tmp_path):
    bad = copy_model(tiny_text_dir, tmp_path / "corrupt")
    weights = bad / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])  # truncated download
    good = copy_model(tiny_text_dir, tmp_path / "good")
    reg = ModelRegistry([text_spec(bad), text_spec(good)], device="cpu")
    with pytest.raises(ModelLoadError) as info:
        reg.get("corrupt")
    assert "corrupt" in str(info.value) and "could not be loaded" in str(info.value)
    assert reg.loaded_keys() == []
    assert reg.get("good") is not None  # the registry keeps working
    rows = {r["key"]: r for r in reg.status()}
    assert rows["corrupt"]["error"] and not rows["corrupt"]["loaded"] and rows["good"]["error"] == ""
    # Repaired on disk: the next get loads it and clears the error.
    shutil.copy(tiny_text_dir / "model.safetensors", weights)
    assert reg.get("corrupt") is not None
    assert {r["key"]: r for r in reg.status()}["corrupt"]["error"] == ""


def test_missing_checkpoint_folder(tmp_path):
    spec = ModelSpec(key="gone", family="text", source=str(tmp_path / "gone"), loader="transformers-causal-lm",
                     builtin=True)
    reg = ModelRegistry([spec], device="cpu")
    with pytest.raises(ModelLoadError, match="does not exist.*git checkout -- checkpoints/"):
        reg.get("gone")


def test_folder_without_weights(tmp_path):
    (tmp_path / "empty").mkdir()
    reg = ModelRegistry([text_spec(tmp_path / "empty")], device="cpu")
    with pytest.raises(ModelLoadError, match="no weights found"):
        reg.get("empty")


def test_unknown_key_lists_known_models(tiny_text_dir):
    reg = ModelRegistry([text_spec(tiny_text_dir)], device="cpu")
    with pytest.raises(UnknownModelError, match="Unknown model 'gpt-17'. Known models: tiny-text"):
        reg.get("gpt-17")


def test_mixin_loader_refuses_classes_outside_the_studio():
    with pytest.raises(ModelLoadError, match="not allowed"):
        loading.resolve_loader("mixin:os:system")


def test_conv_mixin_models_run_channels_last_on_the_cpu_with_the_same_results(tiny_gan_dir):
    from studio.gan.model import Generator

    spec = ModelSpec(key="gan", family="gan", source=str(tiny_gan_dir), loader="mixin:studio.gan.model:Generator")
    g = ModelRegistry([spec], device="cpu").get("gan").model
    convs = [m for m in g.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    plain = Generator.from_pretrained(str(tiny_gan_dir)).eval()  # the default (contiguous) layout
    assert not all(m.weight.is_contiguous(memory_format=torch.channels_last)
                   for m in plain.modules() if isinstance(m, torch.nn.modules.conv._ConvNd))
    z, labels = torch.randn(8, g.z_dim, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    with torch.no_grad():
        assert torch.allclose(g(z, labels), plain(z, labels), atol=1e-5)


def test_spec_validation():
    with pytest.raises(ValueError, match="family 'audio'"):
        ModelSpec(key="x", family="audio", source="x", loader="x")
    with pytest.raises(ValueError, match="may hold only"):
        ModelSpec(key="bad key;", family="text", source="x", loader="x")
    assert ModelSpec(key="g", family="text", source="google/ddpm-cifar10-32", loader="x").is_local is False
    assert ModelSpec(key="g", family="text", source="/abs/path", loader="x").is_local is True


def test_warm_imports_imports_each_family_library_and_loads_no_weights():
    """In a fresh process (this one has the libraries imported already): the built-in models' loaders import
    transformers' GPT-2 code, diffusers' UNet and the tab's schedulers, and no model is loaded."""
    import json
    import subprocess
    import sys

    code = """
import json, sys
from studio.config import Settings
from studio.catalog import registry_from_settings
r = registry_from_settings(Settings(allow_hub=False, hub_offline=True))
mods = ["transformers.models.gpt2.modeling_gpt2", "diffusers.models.unets.unet_2d",
        "diffusers.schedulers.scheduling_dpmsolver_multistep", "diffusers.schedulers.scheduling_unipc_multistep"]
before = [m in sys.modules for m in mods]
done = r.warm_imports()
print(json.dumps({"before": before, "after": [m in sys.modules for m in mods], "done": sorted(done),
                  "builtin": sorted(s.key for s in r.specs() if s.builtin), "loaded": r.loaded_keys()}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"shakespeare-gpt", "mnist-ddpm"} <= set(r["builtin"])  # they ship in the repository
    assert r["before"] == [False] * 4  # so the check below can fail
    assert r["after"] == [True] * 4
    assert r["done"] == r["builtin"] and r["loaded"] == []


def test_warm_imports_logs_and_leaves_out_a_model_whose_imports_fail(tmp_path, tiny_text_dir, caplog):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    registry = ModelRegistry([ModelSpec(key="tiny", family="text", source=str(tiny_text_dir),
                                        loader="transformers-causal-lm", builtin=True),
                              ModelSpec(key="bad", family="text", source=str(bad), loader="transformers-causal-lm",
                                        builtin=True),
                              ModelSpec(key="odd", family="gan", source=str(bad), loader="no-such-loader",
                                        builtin=True)], device="cpu")
    with caplog.at_level("WARNING", logger="studio.registry"):
        done = registry.warm_imports()
    assert list(done) == ["tiny"] and done["tiny"] >= 0
    assert "warming the imports for bad failed: JSONDecodeError" in caplog.text
    assert "warming the imports for odd failed: ModelLoadError: Unknown loader 'no-such-loader'" in caplog.text
    assert registry.loaded_keys() == []
    registry.get("tiny")  # and the model still loads
    thread = registry.warm_imports_in_background(["tiny"])
    thread.join(60)
    assert not thread.is_alive() and registry.loaded_keys() == ["tiny"]


def _planted_loader(monkeypatch, name, *, warm=None, load=None):
    """A loader module registered under LOADERS[name], with the given warm_imports and load functions."""
    import types

    module = types.ModuleType(f"studio_test_loader_{name}")
    module.warm_imports = warm or (lambda folder=None: None)
    module.load = load
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(loading.LOADERS, name, f"{module.__name__}:load")


def test_a_load_never_imports_while_the_background_warm_up_does(tiny_text_dir, monkeypatch):
    """The import race at start: a first click while the warm-up imports transformers must wait for it."""
    from studio.text.loader import load_causal_lm

    events = []

    def warm(folder=None):
        events.append(("warm-start", time.perf_counter()))
        time.sleep(0.5)  # importing a lazy library takes seconds in a fresh process
        events.append(("warm-end", time.perf_counter()))

    def load(folder, *, device, dtype):
        events.append(("load-start", time.perf_counter()))
        return load_causal_lm(folder, device=device, dtype=dtype)

    _planted_loader(monkeypatch, "racy", warm=warm, load=load)
    reg = ModelRegistry([text_spec(tiny_text_dir, loader="racy")], device="cpu")
    thread = reg.warm_imports_in_background(["tiny-text"])
    deadline = time.time() + 10
    while not events and time.time() < deadline:
        time.sleep(0.01)
    reg.get("tiny-text")  # the click, while the warm-up is importing
    thread.join(30)
    at = dict(events)
    assert at["load-start"] >= at["warm-end"], events


def test_a_failed_import_does_not_blame_the_checkpoint(tiny_text_dir, monkeypatch):
    def load(folder, *, device, dtype):
        raise ImportError("cannot import name 'AutoModelForCausalLM' from 'transformers'")

    _planted_loader(monkeypatch, "broken-import", load=load)
    reg = ModelRegistry([text_spec(tiny_text_dir, loader="broken-import")], device="cpu")
    with pytest.raises(ModelLoadError) as err:
        reg.get("tiny-text")
    msg = str(err.value)
    assert "failed to import" in msg and "AutoModelForCausalLM" in msg and "not a fault of the checkpoint" in msg
    assert "corrupt" not in msg
    assert reg.status()[0]["error"] == msg


def test_a_local_folder_can_be_added_and_loaded(tiny_text_dir, tiny_unet_dir):
    reg = ModelRegistry([], device="cpu", allow_hub=False)
    spec = reg.add_model("text", str(tiny_text_dir))
    assert spec.key == "tiny-text" and spec.is_local and spec.loader == "transformers-causal-lm"
    assert reg.get(spec.key).model.config.n_layer == 1
    assert reg.add_model("text", f"  {tiny_text_dir}/ ") is spec  # the same folder again: the same model
    with pytest.raises(Exception, match="already added as a text model"):
        reg.add_model("diffusion", str(tiny_text_dir))
    unet = reg.add_model("diffusion", str(tiny_unet_dir))
    assert unet.loader == "diffusers-unet" and reg.get(unet.key).num_classes == 10
    with pytest.raises(Exception, match="No folder .*nowhere"):
        reg.add_model("text", "/nowhere/at/all")
    with pytest.raises(Exception, match="Type a Hugging Face Hub id or a local folder"):
        reg.add_model("text", "   ")


def test_an_added_folder_with_only_pickles_is_refused(tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(UnsafeCheckpointError, match="python -m studio.convert"):
        ModelRegistry([], device="cpu").add_model("text", str(folder))


def test_hosted_servers_refuse_local_folders_unless_allowed(tiny_text_dir):
    from studio.config import Settings

    hosted = Settings.from_env({"STUDIO_HOSTED": "1"})
    assert not hosted.allow_local_models and not hosted.allow_hub
    reg = ModelRegistry([], device="cpu", allow_hub=False, allow_local=hosted.allow_local_models)
    with pytest.raises(Exception, match="turned off here .*STUDIO_ALLOW_LOCAL=1"):
        reg.add_model("text", str(tiny_text_dir))
    assert reg.keys() == []
    allowed = Settings.from_env({"STUDIO_HOSTED": "1", "STUDIO_ALLOW_LOCAL": "1"})
    reg = ModelRegistry([], device="cpu", allow_hub=False, allow_local=allowed.allow_local_models)
    assert reg.add_model("text", str(tiny_text_dir)).key == "tiny-text"


def test_a_hub_id_goes_to_the_hub_and_a_vae_folder_picks_its_loader(tmp_path):
    from tests.helpers import save_tiny_autoencoderkl, save_tiny_vae

    reg = ModelRegistry([], device="cpu", offline=True, cache_dir=tmp_path / "hf")
    assert reg.add_model("vae", "stabilityai/sd-vae-ft-mse").loader == "diffusers-autoencoderkl"
    kl = reg.add_model("vae", str(save_tiny_autoencoderkl(tmp_path / "kl")))
    digits = reg.add_model("vae", str(save_tiny_vae(tmp_path / "digits", card=False)))
    assert kl.loader == "diffusers-autoencoderkl" and digits.loader == "mixin:studio.vae.model:ConvVAE"


def test_a_name_no_folder_can_have_is_not_taken_for_one():
    reg = ModelRegistry([], device="cpu", allow_hub=False)
    assert not reg.could_add("x" * 20_000) and not reg.could_add("a\0b")
    with pytest.raises(Exception, match="No folder"):
        reg.add_model("text", "/" + "x" * 5000)
    assert ModelSpec(key="k", family="text", source="y" * 300, loader="transformers-causal-lm").is_local
