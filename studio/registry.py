"""The shared model registry: every tab asks it for models; it loads each once, caches, and evicts.

``ModelSpec`` says what a model is and where it comes from (a local folder or a Hugging Face Hub id);
``ModelRegistry`` turns a key into a ready *bundle* (model + tokenizer/scheduler + defaults) on the chosen
device, loading lazily and exactly once even when many requests ask at the same moment.

Rules it enforces for every source, built-in or Hub:
1. weights are safetensors only; a folder with only pickle files is refused with how to convert it;
2. ``trust_remote_code`` is never set (loaders pass ``trust_remote_code=False``);
3. with ``HF_HUB_OFFLINE=1`` or no network, a Hub model that is not cached fails with a message naming it
   and saying how to get it; a corrupt or missing checkpoint fails with a message and the registry stays
   usable (the failure is kept in ``status()``).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from studio.config import env_flag
from studio.device import pick_device, pick_dtype
from studio.errors import HubUnavailableError, ModelLoadError, StudioError, UnknownModelError
from studio.loading import (Bundle, ModelSpec, _is_dir, _looks_like_path, check_weights,
                            hub_loader_for, hub_snapshot, is_hub_id, local_loader_for, model_files, resolve_loader,
                            safetensors_summary, warm_loader_imports)
from studio.serving.replay import folder_fingerprint

log = logging.getLogger("studio.registry")


# One lock for importing the model libraries, held by the warm-up and every load: transformers and diffusers import
# lazily (a module-level __getattr__), and two threads importing one lazy module at once can see it half-initialised
# (a first click during the warm-up failed 1 time in 3: "cannot import name 'AutoModelForCausalLM' from 'transformers'").
IMPORT_LOCK = threading.RLock()


@dataclass
class _Loaded:
    bundle: Bundle
    device: torch.device
    dtype: torch.dtype
    num_params: int
    size_mb: float
    load_seconds: float
    folder: Path
    weights_id: str = ""  # studio.serving.folder_fingerprint of the folder, at load time


class ModelRegistry:
    """Loads models lazily, once, on one device; keeps at most ``max_loaded`` (least recently used goes).

    Args:
        specs (iterable of `ModelSpec`): the catalog.
        device (`str`, defaults to ``"auto"``): see ``studio.device.pick_device``.
        max_loaded (`int`, defaults to 4): LRU capacity; loading one more evicts the least recently used.
        allow_hub (`bool`, defaults to True): whether Hub ids may be loaded (and added by users).
        offline (`bool`, *optional*): never touch the network; defaults to ``HF_HUB_OFFLINE``.
        cache_dir (`str`, *optional*): the Hugging Face cache folder (tests point it at a temporary one).
    """

    def __init__(self, specs=(), *, device: str = "auto", max_loaded: int = 4, allow_hub: bool = True,
                 offline: bool | None = None, cache_dir: str | Path | None = None, allow_local: bool = True):
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1.")
        self.device = pick_device(device)  # decided once, here
        self.max_loaded = max_loaded
        self.allow_hub = allow_hub
        self.allow_local = allow_local  # may users add a folder of this machine (off on a public Space)
        self.offline = env_flag(os.environ, "HF_HUB_OFFLINE", False) if offline is None else offline
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self._specs: dict[str, ModelSpec] = {}
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()  # least recently used first
        self._errors: dict[str, str] = {}
        self._load_counts: dict[str, int] = {}
        self._lock = threading.RLock()  # guards the dicts above; never held while loading
        self._key_locks: dict[str, threading.Lock] = {}
        for spec in specs:
            self.register(spec)

    # --- catalog ------------------------------------------------------------------------------------
    def register(self, spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
        with self._lock:
            if spec.key in self._specs and not replace and self._specs[spec.key] != spec:
                raise ValueError(f"A different model is already registered as {spec.key!r}.")
            self._specs[spec.key] = spec
        return spec

    @property
    def can_add(self) -> bool:
        """Whether users may add models at all (from the Hub or from a local folder)."""
        return self.allow_hub or self.allow_local

    def unregister(self, key: str) -> None:
        """Forget a model a user added (built-ins stay); unloads it first if it is loaded."""
        spec = self.spec(key)
        if spec.builtin:
            raise StudioError(f"{key!r} is a built-in model; it can be unloaded, not removed.")
        self.unload(key)
        with self._lock:
            self._specs.pop(key, None)
            self._errors.pop(key, None)

    def could_add(self, source: str) -> bool:
        """Whether ``add_model`` would try ``source`` here: a folder path where local folders are allowed, a Hub id
        where the Hub is (anything else is just an unknown key)."""
        source = source.strip()
        if _looks_like_path(source) or _is_dir(source):
            return self.allow_local
        return self.allow_hub and is_hub_id(source)

    def add_model(self, family: str, source, revision: str | None = None, *, loader: str | None = None) -> ModelSpec:
        """Register what a user typed in a tab's add box: a Hugging Face Hub id or a local folder (the tab then
        calls ``get``). A folder is written as a path (``/``, ``./``, ``../``, ``~``) or names an existing folder.

        Args:
            family (`str`): the tab's family.
            source (`str`): a Hub id (``gpt2``, ``google/ddpm-cifar10-32``) or a folder path.
            revision (`str`, *optional*): Hub branch, tag or commit.
            loader (`str`, *optional*): the loader for a folder; by default read from the folder's model card
                (``studio:`` block) or its config (diffusers ``_class_name``), else the family's Hub loader.
        """
        if not isinstance(source, str) or not source.strip():
            raise StudioError("Type a Hugging Face Hub id or a local folder (e.g. 'gpt2' or /path/to/model).")
        source = source.strip()
        # an existing folder wins over a Hub id of the same spelling, as in from_pretrained
        if _looks_like_path(source) or _is_dir(source):
            return self.add_local_model(family, source, loader=loader)
        return self.add_hub_model(family, source, revision)

    def add_local_model(self, family: str, folder, *, loader: str | None = None) -> ModelSpec:
        """Register a model folder of this machine (safetensors only, checked when it loads). Refused where
        ``allow_local`` is off (``STUDIO_HOSTED=1`` unless ``STUDIO_ALLOW_LOCAL=1``): a public server must not
        open arbitrary folders of its disk."""
        if not self.allow_local:
            raise StudioError("Adding a folder of the server is turned off here (a hosted studio: STUDIO_HOSTED=1; "
                              "the host can allow it with STUDIO_ALLOW_LOCAL=1). Type a Hugging Face Hub id instead.")
        if not _is_dir(str(folder).strip()):
            raise StudioError(f"No folder {str(folder).strip()[:200]} on this machine. Type the path of a model folder "
                              f"(one that holds config.json and *.safetensors), or a Hugging Face Hub id.")
        path = Path(str(folder).strip()).expanduser().resolve()
        if not path.is_dir():
            raise StudioError(f"No folder {path} on this machine. Type the path of a model folder (one that holds "
                              f"config.json and *.safetensors), or a Hugging Face Hub id.")
        check_weights(path, path.name)  # safetensors present; a pickle-only folder is refused with how to convert
        existing = self._local_spec(path, family)
        if existing is not None:
            return existing
        if loader is None:
            loader = local_loader_for(family, path)
        with self._lock:  # the look-up and the new key in one step: two users adding at once get two keys
            existing = self._local_spec(path, family)
            if existing is not None:
                return existing
            base = re.sub(r"[^A-Za-z0-9._\-]+", "-", path.name).strip("-.") or "local-model"
            if not base[0].isalnum():
                base = "local-" + base
            key, n = base, 2
            while key in self._specs:
                key, n = f"{base}-{n}", n + 1
            return self.register(ModelSpec(key=key, family=family, source=str(path), loader=loader, added=True,
                                           description=f"added by a user from the folder {path}"))

    def _local_spec(self, path: Path, family: str) -> ModelSpec | None:
        """The spec of the folder ``path`` when it was added before (the same model), else None."""
        for spec in self.specs():
            if spec.is_local and Path(spec.source).expanduser().resolve() == path:
                if spec.family != family:
                    raise StudioError(f"{path} is already added as a {spec.family} model, not a {family} model.")
                return spec
        return None

    def add_hub_model(self, family: str, repo_id: str, revision: str | None = None) -> ModelSpec:
        """Register a Hub id typed by a user (the tab then calls ``get``). Checks the id and the policy."""
        if not isinstance(repo_id, str):
            raise StudioError("Type a Hugging Face Hub id or a local folder (e.g. 'gpt2' or /path/to/model).")
        repo_id = (repo_id or "").strip()
        if not self.allow_hub:
            raise HubUnavailableError("Loading models from the Hugging Face Hub is turned off on this server "
                                      "(STUDIO_ALLOW_HUB=0). Use one of the listed models.")
        if not is_hub_id(repo_id):
            raise StudioError(f"{repo_id!r} is not a Hugging Face Hub id; it looks like 'owner/name', e.g. 'gpt2' "
                              f"or 'google/ddpm-cifar10-32'.")
        with self._lock:
            existing = self._specs.get(repo_id)
            if existing is not None:
                if existing.family != family:
                    raise StudioError(f"{repo_id!r} is a {existing.family} model, not a {family} model.")
                return existing
            return self.register(ModelSpec(key=repo_id, family=family, source=repo_id, revision=revision, added=True,
                                           loader=hub_loader_for(family), description="added by a user from the Hub"))

    def spec(self, key: str) -> ModelSpec:
        with self._lock:
            try:
                return self._specs[key]
            except (KeyError, TypeError):
                known = ", ".join(sorted(self._specs)) or "none"
        raise UnknownModelError(f"Unknown model {key!r}. Known models: {known}.")

    def specs(self, family: str | None = None) -> list[ModelSpec]:
        """The catalog (a copy, read under the lock: another user may be adding a model meanwhile)."""
        with self._lock:
            specs = list(self._specs.values())
        return [s for s in specs if family is None or s.family == family]

    def keys(self, family: str | None = None) -> list[str]:
        return [s.key for s in self.specs(family)]

    # --- loading ------------------------------------------------------------------------------------
    def get(self, key: str) -> Bundle:
        """The ready bundle for ``key``: cached, or loaded now (once, even under concurrent calls)."""
        spec = self.spec(key)
        with self._lock:
            entry = self._loaded.get(key)
            if entry is not None:  # warm hit: mark as most recently used
                self._loaded.move_to_end(key)
                return entry.bundle
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one loader per key; others wait here
            with self._lock:  # re-check: someone may have loaded it while we waited
                entry = self._loaded.get(key)
                if entry is not None:
                    self._loaded.move_to_end(key)
                    return entry.bundle
            start = time.perf_counter()
            try:
                entry = self._load(spec)
            except StudioError as err:
                with self._lock:
                    self._errors[key] = str(err)
                raise
            except torch.cuda.OutOfMemoryError as err:
                raise self._failed(key, f"Model {key!r} does not fit in GPU memory ({err}). Unload other models on "
                                        f"the Models tab or set STUDIO_DEVICE=cpu.") from err
            except ImportError as err:  # the studio's own libraries, not the checkpoint
                raise self._failed(key, f"Model {key!r} could not be loaded: a library the studio needs failed to "
                                        f"import ({type(err).__name__}: {str(err).strip()[:300]}). This is not a fault "
                                        f"of the checkpoint; try again, and if it persists reinstall the requirements "
                                        f"(pip install -r requirements.txt).") from err
            except Exception as err:  # corrupt files, wrong format, missing config...
                raise self._failed(key, f"Model {key!r} could not be loaded from {spec.source}: {type(err).__name__}: "
                                        f"{str(err).strip()[:400]}. The checkpoint may be corrupt, incomplete or not "
                                        f"a {spec.family} model in a format the studio reads.") from err
            entry.load_seconds = time.perf_counter() - start
            with self._lock:
                self._loaded[key] = entry
                self._errors.pop(key, None)
                self._load_counts[key] = self._load_counts.get(key, 0) + 1
                evicted = self._pop_over_capacity()
            if evicted:
                self._free(evicted)
            return entry.bundle

    def _failed(self, key: str, msg: str) -> ModelLoadError:
        """Record a failed load's message for ``status()`` and return the error to raise."""
        with self._lock:
            self._errors[key] = msg
        return ModelLoadError(msg)

    def _load(self, spec: ModelSpec) -> _Loaded:
        folder = self._resolve_source(spec)
        check_weights(folder, spec.key)  # safetensors present, no pickle-only folder
        dtype = pick_dtype(spec.family, self.device, spec.dtype)
        with IMPORT_LOCK:  # never while the warm-up (or another load) is importing the same libraries
            loader = resolve_loader(spec.loader)
            bundle = loader(folder, device=self.device, dtype=dtype)
        for module in bundle.modules().values():
            module.eval().requires_grad_(False)
        num_params = sum(p.numel() for m in bundle.modules().values() for p in m.parameters())
        size_mb = sum(t.numel() * t.element_size() for m in bundle.modules().values()
                      for t in list(m.parameters()) + list(m.buffers())) / 1e6
        return _Loaded(bundle, self.device, dtype, num_params, size_mb, 0.0, folder, folder_fingerprint(folder))

    def _resolve_source(self, spec: ModelSpec) -> Path:
        """A local folder holding the model: the source itself, or a Hub snapshot in the HF cache."""
        if spec.is_local:
            folder = Path(spec.source).expanduser()
            if not folder.is_dir():
                hint = (" Built-in checkpoints ship in the repository's checkpoints/ folder: restore it with "
                        "`git checkout -- checkpoints/` or retrain it with its training command (see its model card)."
                        if spec.builtin else "")
                raise ModelLoadError(f"Model {spec.key!r}: checkpoint folder {folder} does not exist.{hint}")
            return folder
        if not self.allow_hub and spec.added:
            raise HubUnavailableError(f"Model {spec.key!r} comes from the Hugging Face Hub ({spec.source}), and Hub "
                                      f"loading is turned off on this server (STUDIO_ALLOW_HUB=0).")
        return hub_snapshot(spec, offline=self.offline, cache_dir=self.cache_dir)

    # --- eviction -----------------------------------------------------------------------------------
    def _pop_over_capacity(self) -> list[_Loaded]:
        evicted = []
        while len(self._loaded) > self.max_loaded:
            _, entry = self._loaded.popitem(last=False)  # least recently used
            evicted.append(entry)
        return evicted

    def _free(self, entries: list[_Loaded]) -> None:
        """Drop the registry's references and give the memory back (GPU cache included)."""
        uses_cuda = any(e.device.type == "cuda" for e in entries)
        entries.clear()
        gc.collect()
        if uses_cuda and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def unload(self, key: str) -> bool:
        """Evict ``key`` now; returns whether it was loaded."""
        self.spec(key)
        with self._lock:
            entry = self._loaded.pop(key, None)
        if entry is None:
            return False
        self._free([entry])
        return True

    def unload_all(self) -> int:
        with self._lock:
            entries = list(self._loaded.values())
            self._loaded.clear()
        n = len(entries)
        self._free(entries)
        return n

    def preload(self, keys) -> dict[str, str]:
        """Load several models (``["*"]`` = every built-in); returns key -> "ok" or the error message."""
        keys = list(keys)
        if keys == ["*"]:
            keys = [s.key for s in self.specs() if s.builtin]
        report = {}
        for key in keys:
            try:
                self.get(key)
                report[key] = "ok"
            except StudioError as err:
                report[key] = str(err)
        return report

    def warm_imports(self, keys=None) -> dict[str, float]:
        """Import what loading these models needs (their family's library and model classes) without loading
        any weights; ``keys`` defaults to the built-in models. In a fresh process most of a first load is
        importing transformers or diffusers (~5 s each on a 2-core CPU, benchmarks/registry.py), so app.py runs
        this in the background once it serves: the first click on a tab then pays for the model alone, and the
        models stay unloaded until used. Returns key -> seconds; a model whose imports fail is logged and left
        out (loading it reports the error to the user as usual)."""
        keys = [s.key for s in self.specs() if s.builtin] if keys is None else list(keys)
        seconds = {}
        for key in keys:
            spec = self.spec(key)
            start = time.perf_counter()
            try:
                with IMPORT_LOCK:
                    warm_loader_imports(spec.loader, Path(spec.source).expanduser() if spec.is_local else None)
            except Exception as err:  # noqa: BLE001 - a warm-up must never take the server down
                log.warning("warming the imports for %s failed: %s: %s", key, type(err).__name__, err)
                continue
            seconds[key] = time.perf_counter() - start
        return seconds

    def warm_imports_in_background(self, keys=None, *, delay: float = 0.0) -> threading.Thread:
        """:meth:`warm_imports` on a daemon thread, after ``delay`` seconds and niced on Linux, so the page's
        first requests come first (imports hold the GIL); logs what it did."""

        def run():
            time.sleep(delay)
            if sys.platform == "linux":
                try:
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only, on Linux
                except OSError:
                    pass
            start = time.perf_counter()
            done = self.warm_imports(keys)
            log.info("imports for %s warmed in %.1f s", ", ".join(done) or "no model", time.perf_counter() - start)

        thread = threading.Thread(target=run, name="studio-warm-imports", daemon=True)
        thread.start()
        return thread

    # --- status -------------------------------------------------------------------------------------
    def weights_id(self, key: str) -> str | None:
        """The fingerprint (studio.serving.folder_fingerprint) of the weights ``get(key)`` serves, taken at load; of
        the folder now for a local model not loaded; None for an unloaded Hub model or an unknown key."""
        with self._lock:
            entry, spec = self._loaded.get(key), self._specs.get(key)
        folder = Path(spec.source).expanduser() if entry is None and spec is not None and spec.is_local else None
        return entry.weights_id if entry else folder_fingerprint(folder) if folder and folder.is_dir() else None

    def is_loaded(self, key: str) -> bool:
        with self._lock:
            return key in self._loaded

    def loaded_keys(self) -> list[str]:
        """Loaded keys, least recently used first."""
        with self._lock:
            return list(self._loaded)

    def load_count(self, key: str) -> int:
        with self._lock:
            return self._load_counts.get(key, 0)

    def status(self) -> list[dict[str, Any]]:
        """One row per catalogued model, for the Models tab and the ``models_status`` endpoint."""
        rows = []
        with self._lock:
            loaded = dict(self._loaded)
            errors = dict(self._errors)
            specs = list(self._specs.values())
        for spec in specs:
            entry = loaded.get(spec.key)
            row = {"key": spec.key, "family": spec.family, "source": spec.source,
                   "origin": "built-in" if spec.builtin else ("local folder" if spec.is_local else "Hub download"),
                   "loaded": entry is not None, "device": "", "dtype": "", "params": None, "size_mb": None,
                   "load_s": None, "error": errors.get(spec.key, ""), "description": spec.description,
                   "license": spec.license, "metrics": dict(spec.metrics)}
            if entry is not None:
                row.update(device=str(entry.device), dtype=str(entry.dtype).removeprefix("torch."),
                           params=entry.num_params, size_mb=round(entry.size_mb, 2),
                           load_s=round(entry.load_seconds, 3))
            elif spec.is_local and Path(spec.source).is_dir():
                params, size_mb = safetensors_summary(model_files(Path(spec.source), {".safetensors"}))
                row.update(params=params or None, size_mb=round(size_mb, 2))
            rows.append(row)
        return rows

    def memory(self) -> dict[str, Any]:
        """The process's resident memory and, on CUDA, the GPU memory in use."""
        import psutil

        info = {"device": str(self.device), "rss_mb": round(psutil.Process().memory_info().rss / 1e6, 1)}
        if self.device.type == "cuda":
            info["cuda_allocated_mb"] = round(torch.cuda.memory_allocated(self.device) / 1e6, 1)
            info["cuda_reserved_mb"] = round(torch.cuda.memory_reserved(self.device) / 1e6, 1)
            free, total = torch.cuda.mem_get_info(self.device)
            info["cuda_free_mb"], info["cuda_total_mb"] = round(free / 1e6, 1), round(total / 1e6, 1)
        return info
