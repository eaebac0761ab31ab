"""Each family's add box takes a Hub id or a local folder; a typed id in a model picker is added the same way;
hosted servers refuse folders; the Diffusion picker sets Digit to what the model can do."""

import numpy as np
import pytest
from PIL import Image

from studio.config import Settings
from studio.catalog import registry_from_settings
from studio.registry import ModelRegistry
from studio.ui.app import build_studio
from tests.helpers import (launched, save_tiny_autoencoderkl, save_tiny_gan, save_tiny_text_model, save_tiny_unet,
                           tiny_family_specs)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("add")
    return {"text": save_tiny_text_model(root / "my-text", card=False),
            "gan": save_tiny_gan(root / "my-gan", card=False),
            "unet": save_tiny_unet(root / "my-rgb-ddpm", num_classes=0, channels=3, card=False),
            "kl": save_tiny_autoencoderkl(root / "my-kl")}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    registry = ModelRegistry(tiny_family_specs(tmp_path_factory.mktemp("base")), device="cpu", allow_hub=False)
    with launched(registry, Settings(allow_hub=False)) as c:
        c.registry = registry
        yield c


def test_each_add_box_takes_a_local_folder(client, folders):
    update = client.predict(source=str(folders["text"]), api_name="/text_add_model")
    assert update["value"] == "my-text" and "my-text" in [c[0] for c in update["choices"]]
    tokens, summary, *_ = client.predict(model="my-text", max_new_tokens=5, api_name="/text_generate")
    assert len(tokens) >= 2 and "perplexity" in summary
    assert client.predict(source=str(folders["gan"]), api_name="/gan_add_model")["value"] == "my-gan"
    gallery, *_ = client.predict(model="my-gan", grid_side=2, api_name="/gan_grid")
    assert len(gallery) == 4
    model_update, digit = client.predict(source=str(folders["unet"]), api_name="/diffusion_add_model")
    assert model_update["value"] == "my-rgb-ddpm" and digit == "none"  # unconditional: no digit
    photo, digits, _ = client.predict(source=str(folders["kl"]), api_name="/vae_add_model")
    assert photo["value"] == "my-kl" and "my-kl" not in [c[0] for c in digits["choices"]]


def test_add_box_messages(client, tmp_path):
    with pytest.raises(Exception, match="Type a Hugging Face Hub id or a local folder"):
        client.predict(source="  ", api_name="/text_add_model")
    with pytest.raises(Exception, match="No folder .*nowhere"):
        client.predict(source="/nowhere/model", api_name="/text_add_model")
    with pytest.raises(Exception, match="Hugging Face Hub is turned off"):
        client.predict(source="gpt2", api_name="/text_add_model")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(Exception, match="only pickle weights"):
        client.predict(source=str(pickled), api_name="/text_add_model")
    assert "pickled" not in client.registry.keys()


def test_a_folder_that_does_not_load_leaves_the_catalog_as_it_was(client, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    before = client.registry.keys()
    with pytest.raises(Exception, match="could not be loaded"):
        client.predict(source=str(broken), api_name="/text_add_model")
    assert client.registry.keys() == before


def test_a_folder_typed_into_the_photo_picker_is_added_and_used(client, folders, tmp_path):
    from gradio_client import handle_file

    paths = []
    for i in range(2):
        p = tmp_path / f"photo{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(p)
        paths.append(handle_file(str(p)))
    typed = str(folders["kl"].parent / "my-kl")
    lerp, slerp = client.predict(model=typed, photo_a=paths[0], photo_b=paths[1], api_name="/vae_photos")
    assert len(lerp) == 6 and len(slerp) == 6
    with pytest.raises(Exception, match="Unknown model 'sd-vae-nope'"):  # Hub off here: an unknown key
        client.predict(model="sd-vae-nope", photo_a=paths[0], photo_b=paths[1], api_name="/vae_photos")


def test_a_typed_hub_id_in_the_photo_picker_is_taken_as_a_hub_id(tmp_path):
    registry = ModelRegistry([], device="cpu", allow_hub=True, offline=True, cache_dir=tmp_path / "hf")
    demo = build_studio(registry, Settings())
    fn = next(f.fn for f in demo.fns.values() if f.api_name == "vae_photos")
    img = tmp_path / "p.png"
    Image.new("RGB", (32, 32)).save(img)
    with pytest.raises(Exception) as err:
        fn("stabilityai/sd-vae-ft-mse", str(img), str(img))
    msg = err.value.message
    assert msg.startswith("Unknown model 'stabilityai/sd-vae-ft-mse'")
    assert "Tried as a Hub id or folder: " in msg and "not in the local Hugging Face cache" in msg
    assert "stabilityai/sd-vae-ft-mse" not in registry.keys()  # it could not load, so it was not kept


def test_hosted_studio_refuses_a_server_folder(folders, tmp_path):
    settings = Settings.from_env({"STUDIO_HOSTED": "1"})
    registry = registry_from_settings(settings)
    demo = build_studio(registry, settings)
    fn = next(f.fn for f in demo.fns.values() if f.api_name == "text_add_model")
    with pytest.raises(Exception, match="turned off here"):
        fn(str(folders["text"]))
    assert not registry.can_add


def test_picking_an_unconditional_model_sets_digit_to_none(folders, tmp_path):
    registry = ModelRegistry(tiny_family_specs(tmp_path), device="cpu", allow_hub=False)
    registry.add_model("diffusion", str(folders["unet"]))
    demo = build_studio(registry, Settings(allow_hub=False))
    digit = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "diff-digit")
    [dep] = [f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "model_changed"]
    assert [t[1] for t in dep.targets] == ["change"] and dep.outputs == [digit]
    assert dep.fn("my-rgb-ddpm", "any") == "none"  # before: Digit stayed 'any' and the first Run failed
    assert dep.fn("tiny-unet", "none") == "any"
    assert dep.fn("tiny-unet", "7").get("__type__") == "update"  # a conditional model keeps the user's digit
    assert not registry.is_loaded("my-rgb-ddpm")  # read from its config, nothing loaded
