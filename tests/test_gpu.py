"""CUDA path: run where a GPU is present (`pytest -m gpu`); skipped elsewhere."""

import gc

import pytest
import torch

from studio.gan import engine as gan_engine
from studio.registry import ModelRegistry, ModelSpec

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def specs(tiny_text_dir, tiny_unet_dir, tiny_gan_dir):
    return [ModelSpec(key="text", family="text", source=str(tiny_text_dir), loader="transformers-causal-lm"),
            ModelSpec(key="unet", family="diffusion", source=str(tiny_unet_dir), loader="diffusers-unet"),
            ModelSpec(key="gan", family="gan", source=str(tiny_gan_dir), loader="mixin:studio.gan.model:Generator")]


def test_models_are_placed_on_the_gpu_with_the_family_dtype(tiny_text_dir, tiny_unet_dir, tiny_gan_dir):
    reg = ModelRegistry(specs(tiny_text_dir, tiny_unet_dir, tiny_gan_dir), device="auto")
    assert reg.device.type == "cuda"
    text, unet, gan = reg.get("text"), reg.get("unet"), reg.get("gan")
    assert next(text.model.parameters()).device.type == "cuda"
    assert next(text.model.parameters()).dtype in (torch.bfloat16, torch.float16)
    assert next(unet.unet.parameters()).dtype == torch.float16
    assert next(gan.model.parameters()).dtype == torch.float32
    rows = {r["key"]: r for r in reg.status()}
    assert rows["unet"]["device"].startswith("cuda") and rows["unet"]["dtype"] == "float16"


def test_same_seed_same_images_on_cpu_and_gpu(tiny_gan_dir):
    spec = [ModelSpec(key="gan", family="gan", source=str(tiny_gan_dir), loader="mixin:studio.gan.model:Generator")]
    cpu = gan_engine.grid(ModelRegistry(spec, device="cpu").get("gan"), seed=42, n=4)["images"]
    gpu = gan_engine.grid(ModelRegistry(spec, device="cuda").get("gan"), seed=42, n=4)["images"]
    assert gpu.device.type == "cpu"  # handlers get CPU results
    # The same picture: at most one grey level apart when shown as 8-bit. Not bit-identical, since cuDNN
    # convolutions run in TF32 by default on Ampere and later GPUs (10-bit mantissas), and sum in another order.
    assert (cpu - gpu).abs().max().item() <= 1 / 255


def test_eviction_frees_gpu_memory(tiny_text_dir, tiny_unet_dir, tiny_gan_dir):
    reg = ModelRegistry(specs(tiny_text_dir, tiny_unet_dir, tiny_gan_dir), device="cuda", max_loaded=1)
    gc.collect()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    reg.get("unet")
    with_unet = torch.cuda.memory_allocated()
    assert with_unet > base
    reg.unload_all()
    assert torch.cuda.memory_allocated() <= base + 1024
    reg.get("unet")
    reg.get("gan")  # evicts the unet (capacity 1)
    assert reg.loaded_keys() == ["gan"]
    assert torch.cuda.memory_allocated() < with_unet
