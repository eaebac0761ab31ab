"""Tiny models built in-process and saved in the real formats (transformers, diffusers, safetensors),
so Hub-style loading is tested without a network."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import torch

TINY_TEXT = "hello world, the quick brown fox jumps over the lazy dog.\nTo be or not to be!"


TINY_POEMS = ["白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。\n\n", "春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。\n\n",
              "国破山河在，城春草木深。\n感时花溅泪，恨别鸟惊心。\n\n", "空山不见人，但闻人语响。\n返景入深林，复照青苔上。\n\n",
              "千山鸟飞绝，万径人踪灭。\n孤舟蓑笠翁，独钓寒江雪。\n\n", "红豆生南国，春来发几枝。\n愿君多采撷，此物最相思。\n\n",
              "朝辞白帝彩云间，千里江陵一日还。\n两岸猿声啼不住，轻舟已过万重山。\n\n",
              "月落乌啼霜满天，江枫渔火对愁眠。\n姑苏城外寒山寺，夜半钟声到客船。\n\n",
              "故人西辞黄鹤楼，烟花三月下扬州。\n孤帆远影碧空尽，唯见长江天际流。\n\n",
              "床前看月光，疑是地上霜。\n举头望山月，低头思故乡。\n\n"]


def save_card(folder: Path, *, key: str, family: str, loader: str, description: str = "tiny test model",
              extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(
        "---\nlicense: mit\nstudio:\n"
        f"  key: {key}\n  family: {family}\n  loader: {loader}\n  description: {description}\n{extra}---\n# {key}\n",
        encoding="utf-8")


def write_tiny_tang_corpus(data_dir: Path, copies: int = 10) -> Path:
    """A tang-poems.jsonl of TINY_POEMS (``copies`` times over, simplified characters already) in the corpus's
    format (title, author, paragraphs), so the training command and the loader run without the real corpus."""
    import json

    folder = data_dir / "tang-poems"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "tang-poems.jsonl", "w", encoding="utf-8") as f:
        for i in range(copies):
            for j, poem in enumerate(TINY_POEMS):
                f.write(json.dumps({"title": f"诗{i}-{j}", "author": "某",
                                    "paragraphs": poem.strip().split("\n")}, ensure_ascii=False) + "\n")
    return folder / "tang-poems.jsonl"


def save_tiny_poem_model(folder: Path, *, seed: int = 0) -> Path:
    """A tiny GPT-2 with the Tang model's tokenizer (characters with byte fallback) and a card saying it writes
    Chinese (``language: zh``, ``corpus: tang``), as the built-in tang-gpt's."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from studio.text.corpora import characters_with_byte_fallback

    tok = characters_with_byte_fallback("".join(TINY_POEMS), min_count=1)
    torch.manual_seed(seed)  # test fixture only: weight init, not a request
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    save_card(folder, key=folder.name, family="text", loader="transformers-causal-lm",
              extra="  corpus: tang\n  language: zh\n")
    return folder


def char_tokenizer(text: str = TINY_TEXT):
    """A character-level fast tokenizer built with the `tokenizers` library, <|endoftext|> last."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


def save_tiny_text_model(folder: Path, *, seed: int = 0, card: bool = True) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = char_tokenizer()
    torch.manual_seed(seed)  # test fixture only: weight init, not a request
    config = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    if card:
        save_card(folder, key=folder.name, family="text", loader="transformers-causal-lm")
    return folder


def sharpened_tiny_text(folder: Path, *, factor: float = 3.0):
    """The tiny text model in a registry of its own, its block weights scaled by ``factor`` so its distributions
    are peaked enough for the sampler filters to cut something."""
    from studio.registry import ModelRegistry, ModelSpec

    reg = ModelRegistry([ModelSpec(key="t", family="text", source=str(folder), loader="transformers-causal-lm")],
                        device="cpu")
    bundle = reg.get("t")
    with torch.no_grad():
        for p in bundle.model.transformer.h.parameters():
            p.mul_(factor)
    return bundle


def save_tiny_unet(folder: Path, *, num_classes: int = 10, channels: int = 1, seed: int = 0, card: bool = True) -> Path:
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=8, in_channels=channels, out_channels=channels, layers_per_block=1,
                       block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
                       num_class_embeds=(num_classes + 1) if num_classes else None)
    unet.save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(folder / "scheduler")  # the DDPM paper's T
    if card:
        save_card(folder, key=folder.name, family="diffusion", loader="diffusers-unet")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a slow, counting loader for concurrency tests (registered into LOADERS by the tests) ---------------
LOAD_CALLS: list[str] = []
_load_calls_lock = threading.Lock()


def load_slow_text(folder, *, device, dtype):
    """The real text loader, made slow so that concurrent callers overlap, and counted."""
    from studio.text.loader import load_causal_lm

    with _load_calls_lock:
        LOAD_CALLS.append(str(folder))
    time.sleep(0.3)
    return load_causal_lm(folder, device=device, dtype=dtype)


def save_tiny_gan(folder: Path, *, seed: int = 0, card: bool = True) -> Path:
    from studio.gan.model import Generator

    torch.manual_seed(seed)
    g = Generator(z_dim=8, embed_dim=4, width=4).eval()
    g.save_pretrained(folder)
    if card:
        save_card(folder, key=folder.name, family="gan", loader="mixin:studio.gan.model:Generator")
    return folder


def save_tiny_vae(folder: Path, *, latent_dim: int = 2, seed: int = 0, card: bool = True) -> Path:
    from studio.vae.model import ConvVAE

    torch.manual_seed(seed)
    ConvVAE(latent_dim=latent_dim, width=4, hidden=16).eval().save_pretrained(folder)
    if card:
        save_card(folder, key=folder.name, family="vae", loader="mixin:studio.vae.model:ConvVAE")
    return folder


def save_tiny_autoencoderkl(folder: Path, *, seed: int = 0) -> Path:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                  up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), block_out_channels=(8, 16),
                  latent_channels=4, norm_num_groups=4, layers_per_block=1, sample_size=32).save_pretrained(folder)
    return folder


def save_tiny_sd(folder: Path, *, seed: int = 0, card: bool = True) -> Path:
    """A tiny Stable-Diffusion-format pipeline with random weights (the built-in's tokenizer, a 2-layer
    CLIPTextModel, a UNet2DConditionModel on 8×8 latents, an AutoencoderKL 32×32 ↔ 4×8×8), saved by
    ``StableDiffusionPipeline.save_pretrained``: model_index.json and safetensors."""
    from diffusers import StableDiffusionPipeline

    from studio.diffusion.text_to_image import train as T

    torch.manual_seed(seed)  # test fixture only: weight init
    tok = T.build_tokenizer()
    pipe = StableDiffusionPipeline(vae=T.build_vae(16), text_encoder=T.build_text_encoder(tok, width=32, heads=2),
                                   tokenizer=tok, unet=T.build_unet(32, 16), scheduler=T.build_scheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.vae.register_to_config(scaling_factor=0.7)
    pipe.save_pretrained(folder, safe_serialization=True)
    if card:
        save_card(folder, key=folder.name, family="t2i", loader="diffusers-sd")
    return folder


class launched:
    """Context manager: build the studio from ``registry``, launch it on a free port, yield a gradio_client."""

    def __init__(self, registry, settings=None, *, mcp: bool = False):
        self.registry, self.settings, self.mcp = registry, settings, mcp

    def __enter__(self):
        from gradio_client import Client

        from studio.config import Settings
        from studio.ui.app import build_studio, launch_kwargs

        self.demo = build_studio(self.registry, self.settings or Settings(allow_hub=False))
        self.demo.queue()
        self.port = free_port()
        self.demo.launch(prevent_thread_lock=True, server_port=self.port, quiet=True, mcp_server=self.mcp,
                         **launch_kwargs())
        self.url = f"http://127.0.0.1:{self.port}/"
        # plain http to this machine: no certificates to load (26 ms for each of the 3-4 httpx clients that
        # gradio_client opens a call, a third of the fuzz test's time)
        self.client = Client(self.url, verbose=False, ssl_verify=False)
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        self.demo.close()


def tiny_family_specs(root: Path) -> list:
    """One tiny model per family (text, GAN, 2-D VAE, conditional UNet), saved under ``root`` in the real formats,
    as built-in specs: a whole studio's worth of models in a few seconds."""
    from studio.registry import ModelSpec

    return [
        ModelSpec(key="tiny-text", family="text", source=str(save_tiny_text_model(root / "t")),
                  loader="transformers-causal-lm", builtin=True),
        ModelSpec(key="tiny-gan", family="gan", source=str(save_tiny_gan(root / "g")),
                  loader="mixin:studio.gan.model:Generator", builtin=True),
        ModelSpec(key="tiny-vae-2d", family="vae", source=str(save_tiny_vae(root / "v", latent_dim=2)),
                  loader="mixin:studio.vae.model:ConvVAE", builtin=True),
        ModelSpec(key="tiny-unet", family="diffusion", source=str(save_tiny_unet(root / "u")),
                  loader="diffusers-unet", builtin=True),
    ]
