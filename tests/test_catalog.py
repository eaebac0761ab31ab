import json

from studio.catalog import KNOWN_HUB_MODELS, builtin_specs, default_catalog
from studio.config import Settings
from studio.registry import ModelRegistry
from tests.helpers import save_tiny_text_model


def test_builtins_found_from_model_cards(tmp_path):
    ckpts = tmp_path / "checkpoints"
    save_tiny_text_model(ckpts / "tiny-text")
    (ckpts / "tiny-text" / "eval.json").write_text(json.dumps({"family": "text", "heldout_nats_per_char": 1.5}))
    (ckpts / "not-a-model").mkdir()  # no card: ignored
    (ckpts / "bad-card").mkdir()
    (ckpts / "bad-card" / "README.md").write_text("---\nstudio:\n  family: audio\n  loader: x\n---\n")
    specs = builtin_specs(ckpts)
    assert [s.key for s in specs] == ["tiny-text"]
    spec = specs[0]
    assert spec.builtin and spec.family == "text" and spec.license == "mit"
    assert spec.metrics["heldout_nats_per_char"] == 1.5
    reg = ModelRegistry(specs, device="cpu")
    assert reg.get("tiny-text").model is not None


def test_default_catalog_marks_hub_models_and_respects_policy(tmp_path):
    on = default_catalog(Settings(checkpoints_dir=tmp_path, allow_hub=True))
    off = default_catalog(Settings(checkpoints_dir=tmp_path, allow_hub=False))
    assert [s.key for s in on] == [s.key for s in KNOWN_HUB_MODELS] and off == []
    families = {s.family for s in KNOWN_HUB_MODELS}
    assert {"text", "vae", "diffusion"} <= families
    reg = ModelRegistry(on, device="cpu", offline=True)
    assert {r["origin"] for r in reg.status()} == {"Hub download"}
