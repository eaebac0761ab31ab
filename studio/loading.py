"""What a model is and how it is loaded, below the registry: ``ModelSpec`` (a key, a family, a source, a loader),
``Bundle`` (what a loader returns), the loaders by name, and the loader for the studio's own
``PyTorchModelHubMixin`` models. The registry (caching, devices, locks) and the catalog (which models exist)
both build on this module; it imports neither."""

from __future__ import annotations

import functools
import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from studio.errors import HubUnavailableError, ModelLoadError, UnsafeCheckpointError

FAMILIES = ("text", "vae", "gan", "diffusion", "t2i", "judge")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# loader name -> "module:function", imported on first use so `python app.py` starts without importing
# transformers or diffusers. A loader takes (folder, *, device, dtype) and returns a Bundle.
LOADERS = {
    "transformers-causal-lm": "studio.text.loader:load_causal_lm",
    "diffusers-unet": "studio.diffusion.loader:load_unet",
    "diffusers-autoencoderkl": "studio.vae.loader:load_autoencoderkl",
    "diffusers-sd": "studio.diffusion.loader:load_text_to_image",
}
# "mixin:<module>:<Class>" loads a PyTorchModelHubMixin class; only classes inside the studio package.
MIXIN_PREFIX = "mixin:"
# What a Hub download fetches: configs, safetensors weights, tokenizer files, the model card. Never pickles.
HUB_ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.md", "*.tiktoken"]
# a pipeline repository holds several GB of other files (single-file checkpoints, fp16 and EMA variants): only
# what the loader reads is fetched (studio/diffusion/loader.py)
FAMILY_ALLOW_PATTERNS = {"t2i": "studio.diffusion.loader:PIPELINE_ALLOW_PATTERNS"}
HUB_LOADERS = {"text": "transformers-causal-lm", "diffusion": "diffusers-unet", "t2i": "diffusers-sd", "vae": "diffusers-autoencoderkl",
               "gan": "mixin:studio.gan.model:Generator"}


class Bundle:
    """What a loader returns: the model(s) and everything needed to run them. Families subclass it."""

    def modules(self) -> dict[str, torch.nn.Module]:
        """The ``nn.Module`` parts, for parameter counts, sizes and device moves."""
        return {name: value for name, value in vars(self).items() if isinstance(value, torch.nn.Module)}


@dataclass(frozen=True)
class ModelSpec:
    """One model the studio can offer.

    Args:
        key (`str`): the name users and recipes use (``shakespeare-gpt``, ``gpt2``).
        family (`str`): one of ``FAMILIES``; picks the tab and the dtype policy.
        source (`str`): a local folder (absolute, or relative to the working directory) or a Hub repo id.
        loader (`str`): a name in ``LOADERS`` or ``mixin:<studio module>:<Class>``.
        revision (`str`, *optional*): Hub branch, tag or commit; ignored for folders.
        dtype (`str`, defaults to ``"auto"``): ``auto`` follows ``studio.device.DTYPE_POLICY``.
        description (`str`): one line for the Models tab.
        license (`str`): the weights' licence.
        builtin (`bool`): shipped in ``checkpoints/``, trained by this project.
        added (`bool`): added by a user (a tab's add box), not by the catalog: a Hub download then needs
            ``allow_hub`` (a catalogued Hub model, known or listed by the host, downloads when first used).
        metrics (`dict`): measured quality figures (from the eval command), shown on the Models tab.
    """

    key: str
    family: str
    source: str
    loader: str
    revision: str | None = None
    dtype: str = "auto"
    description: str = ""
    license: str = ""
    builtin: bool = False
    added: bool = False
    metrics: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"ModelSpec {self.key!r}: family {self.family!r} is not one of {', '.join(FAMILIES)}.")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/\-]*", self.key):
            raise ValueError(f"ModelSpec key {self.key!r} may hold only letters, digits, '.', '_', '-' and '/'.")

    @property
    def is_local(self) -> bool:
        """A folder on disk (an existing path, or one written as a path) rather than a Hub id."""
        s = self.source
        if s.startswith(("/", "./", "../", "~")) or not is_hub_id(s):
            return True
        try:
            return Path(s).expanduser().exists()
        except (OSError, ValueError, RuntimeError):
            return False


def _is_dir(text: str) -> bool:
    """Whether ``text`` names an existing folder; a name no folder can have (too long, NUL) is simply not one."""
    try:
        return Path(text).expanduser().is_dir()
    except (OSError, ValueError, RuntimeError):  # ENAMETOOLONG, embedded NUL, ~user that does not exist
        return False


def _looks_like_path(text: str) -> bool:
    """Written as a path: absolute, relative with ./ or ../, from home, or a Windows drive or share."""
    return text.startswith(("/", "./", "../", "~", "\\\\")) or (len(text) > 2 and text[1] == ":" and text[2] in "/\\")


def is_hub_id(text: str) -> bool:
    """``name`` or ``owner/name`` in the Hub's alphabet (no path separators beyond one slash)."""
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._\-]{0,95})?", text)) and ".." not in text


def resolve_loader(name: str) -> Callable[..., Bundle]:
    """Turn a loader name into the function; refuse anything outside the studio package."""
    if name.startswith(MIXIN_PREFIX):
        module_name, _, class_name = name[len(MIXIN_PREFIX):].partition(":")
        if not module_name.startswith("studio.") or not class_name:
            raise ModelLoadError(f"Loader {name!r} is not allowed: mixin loaders must name a class in the studio package.")
        cls = getattr(importlib.import_module(module_name), class_name)
        return lambda folder, *, device, dtype: load_mixin(cls, folder, device=device, dtype=dtype)
    if name not in LOADERS:
        raise ModelLoadError(f"Unknown loader {name!r}; known: {', '.join(sorted(LOADERS))}, or mixin:<module>:<Class>.")
    module_name, _, fn_name = LOADERS[name].partition(":")
    return getattr(importlib.import_module(module_name), fn_name)


def warm_loader_imports(name: str, folder: Path | None) -> None:
    """Import the code loader ``name`` needs (its module, and whatever its ``warm_imports(folder)`` names)."""
    if name.startswith(MIXIN_PREFIX):
        resolve_loader(name)  # imports the class's module; the mixin itself is light
        return
    resolve_loader(name)
    warm = getattr(importlib.import_module(LOADERS[name].partition(":")[0]), "warm_imports", None)
    if warm is not None:
        warm(folder)


MODEL_DEPTH = 2  # a model's files sit in its folder or one level down (a pipeline's unet/, vae/, text_encoder/)
MODEL_ENTRIES = 4096  # a folder with more entries than this within that depth is not a model folder


def model_files(folder: Path, suffixes=None) -> list[Path]:
    """The files of a model folder: in it and at most one level down (:data:`MODEL_DEPTH`), sorted; ``suffixes``
    (lower case, with the dot) keeps only those. Never a walk of a whole disk: a folder with more than
    :data:`MODEL_ENTRIES` entries within that depth (``/``, a home folder) is refused as not a model folder."""
    folder = Path(folder)
    found, seen, level = [], 0, [folder]
    for _ in range(MODEL_DEPTH):
        below = []
        for d in level:
            try:
                entries = list(d.iterdir())
            except OSError:
                continue
            seen += len(entries)
            if seen > MODEL_ENTRIES:
                raise ModelLoadError(f"{folder} holds more than {MODEL_ENTRIES:,} files and folders: it is not a "
                                     f"model folder (one that holds config.json and *.safetensors).")
            for e in entries:  # (links are followed: a Hub snapshot's files link to the cache's blobs)
                if e.is_dir():
                    below.append(e)
                elif e.is_file() and (suffixes is None or e.suffix.lower() in suffixes):
                    found.append(e)
        level = below
    return sorted(found)


def check_weights(folder: Path, key: str) -> list[Path]:
    """The safetensors files of ``folder`` (:func:`model_files`); refuse a folder that holds only pickles, or no
    weights."""
    safetensors = model_files(folder, {".safetensors"})
    if safetensors:
        return safetensors
    pickles = model_files(folder, set(PICKLE_SUFFIXES))
    if pickles:
        names = ", ".join(str(p.relative_to(folder)) for p in pickles[:3])
        raise UnsafeCheckpointError(
            f"Model {key!r} at {folder} has only pickle weights ({names}). Pickle files can run arbitrary code "
            f"when loaded, so the studio loads safetensors only. Convert it once, on a machine you trust: "
            f"`python -m studio.convert {folder}` (reads the pickle with torch.load(weights_only=True) and "
            f"writes .safetensors beside it), or for a transformers model "
            f"`model.save_pretrained(folder, safe_serialization=True)`."
        )
    raise ModelLoadError(f"Model {key!r}: no weights found in {folder} (expected *.safetensors files).")


def safetensors_summary(files: list[Path]) -> tuple[int, float]:
    """(parameter count, size in MB) read from safetensors headers, without loading any tensor. Cached by
    (path, size, mtime): the Models tab asks on every page load."""
    key = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _summary(key)


@functools.lru_cache(maxsize=256)
def _summary(files: tuple) -> tuple[int, float]:
    from safetensors import safe_open

    params, size = 0, 0
    for path, nbytes, _ in files:
        size += nbytes
        try:
            with safe_open(path, framework="pt") as handle:
                for name in handle.keys():
                    n = 1
                    for d in handle.get_slice(name).get_shape():
                        n *= d
                    params += n
        except Exception:  # a corrupt file is reported when the model is loaded, not here
            return 0, size / 1e6
    return params, size / 1e6


def allow_patterns(family: str) -> list[str]:
    """The files a Hub download of a ``family`` model fetches."""
    if family in FAMILY_ALLOW_PATTERNS:
        import importlib

        module, _, name = FAMILY_ALLOW_PATTERNS[family].partition(":")
        return list(getattr(importlib.import_module(module), name))
    return HUB_ALLOW_PATTERNS

def hub_snapshot(spec: ModelSpec, *, offline: bool, cache_dir: str | None) -> Path:
    """The local folder of Hub model ``spec``: its snapshot in the Hugging Face cache, downloaded first unless
    ``offline`` (only the files its loader reads: :func:`allow_patterns`); every way it can fail is a message that
    names the model and says what to do."""
    from huggingface_hub import snapshot_download
    from huggingface_hub import errors as hf_errors

    how = (f"To use it offline, download it once on a machine with internet: `hf download {spec.source}` "
           f"(or `python -c \"from huggingface_hub import snapshot_download; snapshot_download('{spec.source}')\"`), "
           f"then copy the Hugging Face cache (~/.cache/huggingface) here, or point the studio at the folder.")
    try:
        path = snapshot_download(spec.source, revision=spec.revision, allow_patterns=allow_patterns(spec.family),
                                 local_files_only=offline, cache_dir=cache_dir, etag_timeout=10)
    except (hf_errors.OfflineModeIsEnabled, hf_errors.LocalEntryNotFoundError) as err:
        why = "the studio is offline (HF_HUB_OFFLINE=1)" if offline else "the Hub cannot be reached"
        raise HubUnavailableError(f"Model {spec.key!r} ({spec.source}) is not in the local Hugging Face cache and "
                                  f"{why}. {how}") from err
    except hf_errors.GatedRepoError as err:
        raise HubUnavailableError(f"Model {spec.source!r} is gated on the Hub: accept its licence on "
                                  f"huggingface.co and log in with `hf auth login`.") from err
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as err:
        raise HubUnavailableError(f"No model {spec.source!r} (revision {spec.revision or 'main'}) on the Hugging "
                                  f"Face Hub. Check the spelling, e.g. 'gpt2' or 'google/ddpm-cifar10-32'.") from err
    except Exception as err:  # network errors of every kind
        raise HubUnavailableError(f"Model {spec.key!r} ({spec.source}) could not be downloaded: the Hub cannot be "
                                  f"reached ({type(err).__name__}). {how}") from err
    return Path(path)


def hub_loader_for(family: str) -> str:
    if family not in HUB_LOADERS:
        raise ValueError(f"The {family} family does not load Hub models.")
    return HUB_LOADERS[family]


def local_loader_for(family: str, folder: Path) -> str:
    """The loader for a model folder a user added: its model card's ``studio:`` loader when it has one (the
    built-ins' format), a diffusers ``AutoencoderKL`` config in the VAE family, else the family's Hub loader."""
    try:
        studio = read_card_metadata(folder).get("studio")
    except Exception:  # noqa: BLE001 - an unreadable card: fall back on the config
        studio = None
    if isinstance(studio, dict) and studio.get("loader"):
        if studio.get("family") not in (None, family):
            raise ValueError(f"{folder} holds a {studio['family']} model (its model card says so), not a {family} model.")
        return str(studio["loader"])
    config = folder / "config.json"
    class_name = ""
    if config.is_file():
        try:
            class_name = json.loads(config.read_text()).get("_class_name", "")
        except (OSError, ValueError, AttributeError):
            class_name = ""
    if family == "vae":
        return "diffusers-autoencoderkl" if class_name == "AutoencoderKL" else "mixin:studio.vae.model:ConvVAE"
    return hub_loader_for(family)


def read_card_metadata(folder: Path) -> dict:
    """The YAML front matter of ``folder/README.md`` as a dict ({} when there is none)."""
    from huggingface_hub import ModelCard

    card_path = folder / "README.md"
    if not card_path.is_file():
        return {}
    return ModelCard.load(card_path).data.to_dict()


@dataclass
class MixinBundle(Bundle):
    model: torch.nn.Module  # a studio model class that mixes in PyTorchModelHubMixin
    folder: Path  # where it came from (model card, training snapshots)


def load_mixin(cls, folder: Path, *, device: torch.device, dtype: torch.dtype) -> MixinBundle:
    from huggingface_hub import PyTorchModelHubMixin

    if not (isinstance(cls, type) and issubclass(cls, PyTorchModelHubMixin) and issubclass(cls, torch.nn.Module)):
        raise TypeError(f"{cls!r} is not an nn.Module with PyTorchModelHubMixin")
    # from_pretrained reads config.json (the __init__ kwargs) and model.safetensors; strict so a checkpoint
    # that does not match the class fails loudly instead of leaving random weights.
    model = cls.from_pretrained(str(folder), strict=True, map_location="cpu")
    model.to(device=device, dtype=dtype).eval()
    if device.type == "cpu" and any(isinstance(m, torch.nn.modules.conv._ConvNd) for m in model.modules()):
        # oneDNN's CPU convolutions run faster on channels-last weights (the activations follow): the VAE grid
        # 48 -> 29 ms, the GAN generator 51 -> 39 ms, the judge 52 -> 40 ms (benchmarks/README.md). Only the
        # memory layout changes; values agree to float rounding.
        model.to(memory_format=torch.channels_last)
    return MixinBundle(model=model, folder=Path(folder))
