"""Every change the studio makes to Gradio's own behaviour, in one place, each checked against one Gradio.

The studio patches Gradio where Gradio's behaviour hurt a user and no setting changes it. Each patch names the
Gradio functions it replaces or wraps in :data:`PATCHED`, with a digest of their source in the Gradio it was
checked against (:data:`GRADIO_CHECKED`); ``tests/test_gradio_patches.py`` fails when an installed Gradio's
source differs, so an upgrade is re-checked here rather than found broken in a classroom.

1. **Cache writes** (:func:`install_cache_writes`): a race in Gradio 6's file cache that the load test
   (benchmarks/load.py) hit. Gradio names a result image's cache file by the hash of its bytes, so identical results from different users
   share one file. ``processing_utils.save_pil_to_cache`` (every ``gr.Image`` / ``gr.Gallery`` result)
   rewrites that file in place each time: ``write_bytes`` first truncates it. A download
   of the same file running at that moment reads a truncated body ("peer closed connection without sending
   complete message body (received 0 bytes, expected 5359)" with 16 clients asking for the same VAE
   interpolation). Gradio's own ``save_file_to_cache`` already writes under a temporary name and renames into
   place; the patch makes ``save_pil_to_cache`` do the same: a reader always sees a whole file, old or new.
   (``save_bytes_to_cache`` has the same race, but only audio, video and MCP's SVG results take it, and the
   studio makes none: it was patched until 2026-12-05 and is no longer.)

   While it is there, result PNGs are written at zlib level 1 rather than Pillow's default 6 (:data:`PNG_LEVEL`):
   encoding the Diffusion tab's previews and the VAE latent map showed in the profiles of benchmarks/tab_paths.py.
   And a picture already encoded (the same pixels, name and format: a replayed result, see studio/serving/replay.py) is
   not encoded again: its file is found by a 16-byte digest of its pixels (:func:`pixels_key`), checked to exist.

2. **Input errors that name the input** (:func:`name_input_errors`): a value a component cannot take, or a
   payload that fails Gradio's own checks before any handler runs, becomes a ``gr.Error`` naming the control
   and what it takes, instead of Gradio's generic "Error".
3. **The server speaks the page's language** (:func:`translate_events`): each event runs with the page's
   language set (studio.i18n), its error messages and the text its handler writes are translated.
4. **MCP tools that answer with several outputs, and images as images** (:func:`install_mcp_outputs`). Gradio's
   MCP server wraps a queued tool's result in a list (``[result]``, when the client asks for no progress
   updates), so a tool with several outputs came back as one text holding the Python repr of them all, and removing the ``gr.State`` outputs then popped the
   wrong items (gradio_client has already left them out) or failed; its results are now one content item per
   output. And only a single file output became an image: a gallery (the GAN grid, the VAE rows) and a
   matplotlib plot came back as text holding paths or base64. Each gallery image now comes back as an
   MCP ``ImageContent`` with its caption, and a plot as its PNG. And **each tool call is a session of its own**:
   Gradio's MCP server sends every queued call through one ``gradio_client.Client``, so every MCP user of a Space
   shared one Gradio session, and a tool that reads the session's last run (``text_branch``, ``diffusion_export``)
   answered with another user's run (their prompt, their pictures). Now each MCP session is a Gradio session of
   its own, with its own client (:func:`_client_of_session`). Gradio serves MCP over stateless streamable HTTP,
   where each call is its own MCP session: so each call starts from the State defaults, as Gradio's own warning
   says, and building that client (fetching the app's config, under one lock) is paid on every call.
5. **Outputs left as they are cost nothing** (:func:`skip_unchanged_outputs`). A streamed handler answers
   ``gr.skip()`` for the outputs a frame leaves alone (the Text tab seven per token, the Diffusion tab eight per
   preview). Gradio treats that empty update like any other: it builds a new component with the old one's
   arguments and its whole config (a pydantic JSON schema among it), ~1 ms each, for a result that changes
   nothing. Those outputs now go straight back as the empty update Gradio would have sent.
6. **A new session does not build every block's config up front** (:func:`lazy_session_configs`). Gradio 6's
   ``SessionState`` computes the config of every block of the app when a session's first event arrives (for
   deep links), ~50 ms for the studio's few hundred blocks, on the server's event path; thirty students
   opening a link paid it thirty times at once (benchmarks/classroom.py). The configs are now computed when
   first read, from the same blocks, so a deep link sees exactly what it saw before. (Gradio's own
   ``_update_value_in_config`` then builds the config of an event's inputs and outputs when it first sets their
   value: 0.06 ms a block, once a session; it was patched to wait for a read until 2026-12-05.)

Why this module is long: every change to Gradio's behaviour lives here and nowhere else (DESIGN.md), so a Gradio
upgrade is re-checked against one file and one table of digests.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr
from gradio import processing_utils as pu

from studio import i18n as core
from studio.i18n import N_
from studio.ui import i18n as ui_i18n
from studio.ui.wiring import ERROR_SECONDS

GRADIO_CHECKED = "6.31.0"
# The Gradio functions the patches replace (1), wrap (2, 3) or copy the behaviour of (encode_png), with the
# sha256 of their source (first 16 hex digits) in GRADIO_CHECKED. See source_digest.
PATCHED = {
    "gradio.processing_utils.save_pil_to_cache": "ea8f5a3ffa0371a1",
    "gradio.processing_utils.encode_pil_to_bytes": "a184f532b8dac185",
    "gradio.blocks.Blocks.preprocess_data": "6848b88bd303f76f",
    "gradio.blocks.Blocks.process_api": "cb2ef4a0ec0bf45d",
    "gradio.blocks.Blocks.postprocess_data": "5f6a865a3446ba0b",
    "gradio.mcp.GradioMCPServer._execute_tool_without_progress": "9c4bae23d03b44b7",
    "gradio.mcp.GradioMCPServer.pop_returned_state": "452e1030d5df74cb",
    "gradio.mcp.GradioMCPServer.postprocess_output_data": "210203ddf31395da",
    "gradio.mcp.GradioMCPServer._get_or_create_client": "b7259076c489d7a6",
    "gradio.state_holder.SessionState.__init__": "1b2ea21dc42c45da",
}


def source_digest(dotted: str) -> str:
    """sha256 (16 hex digits) of the source of the function at ``dotted`` in the installed Gradio."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        obj = getattr(obj, "_studio_original", obj)  # what Gradio shipped, not the patch put in its place
        return hashlib.sha256(inspect.getsource(obj).encode("utf-8")).hexdigest()[:16]
    raise ImportError(dotted)


# ---- 1. cache writes -------------------------------------------------------------------------------------
def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees a partial file. An existing file with the same
    bytes (the cache is content-addressed) is only touched, which keeps Gradio's age-based cleanup right."""
    try:
        if path.stat().st_size == len(data):
            os.utime(path)
            return
    except OSError:
        pass
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


PNG_LEVEL = 1  # zlib level for result PNGs: 2-3x faster to encode than Pillow's 6, files ~3% larger (measured)


def encode_png(img) -> bytes:
    """``processing_utils.encode_pil_to_bytes(img, "png")`` (same metadata) at compression level
    :data:`PNG_LEVEL`: every image result of the studio is a PNG (crisp pixels), encoded on each request."""
    with io.BytesIO() as out:
        img.save(out, "png", pnginfo=pu.get_pil_metadata(img), compress_level=PNG_LEVEL)
        return out.getvalue()


ENCODED_KEPT = 4096  # result images remembered by their pixels (16-byte keys): the same picture is encoded once
_ENCODED: "OrderedDict[bytes, str]" = OrderedDict()
_ENCODED_LOCK = threading.Lock()


def pixels_key(img, cache_dir: str, name: str, format: str) -> bytes:
    """A digest of everything the encoded file depends on: the pixels, mode, size, metadata, name and format."""
    h = hashlib.blake2b(img.tobytes(), digest_size=16)
    h.update(repr((img.mode, img.size, sorted(map(str, img.info.items())), cache_dir, name, format)).encode())
    return h.digest()


def install_cache_writes() -> None:
    """Patch 1 (above): atomic cache writes, fast PNGs."""
    if getattr(pu.save_pil_to_cache, "_studio_atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        seen = pixels_key(img, cache_dir, name, format)
        with _ENCODED_LOCK:
            known = _ENCODED.get(seen)
        if known is not None and os.path.exists(known):  # the same picture again (a replay): not encoded again
            return known
        data = encode_png(img) if format.lower() == "png" else pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        write_atomically(path, data)
        with _ENCODED_LOCK:
            _ENCODED[seen] = str(path)
            while len(_ENCODED) > ENCODED_KEPT:
                _ENCODED.popitem(last=False)
        return str(path)

    save_pil_to_cache._studio_atomic = True
    save_pil_to_cache._studio_original = pu.save_pil_to_cache
    pu.save_pil_to_cache = save_pil_to_cache


# ---- 2. input errors that name the input -------------------------------------------------------------

def name_input_errors(demo: gr.Blocks) -> None:
    """Make every input component's own checks speak clearly: a value a component cannot take (a string for a
    slider, a list for a number, a file that is not an image...) fails in Gradio's preprocessing, before any
    handler runs, and would reach the user as a generic error. Wrap each component's ``preprocess`` so the
    failure becomes a ``gr.Error`` that names the control and says what it takes."""
    for block in demo.blocks.values():
        if not isinstance(block, gr.components.Component) or getattr(block, "_studio_wrapped", False):
            continue
        original = block.preprocess
        label = ui_i18n.english(block.label) or block.elem_id or type(block).__name__
        kind = type(block).__name__

        def preprocess(payload, _original=original, _label=label, _kind=kind):
            try:
                return _original(payload)
            except gr.Error as err:
                raise gr.Error(f"{_label}: {err.message}", print_exception=False, duration=ERROR_SECONDS) from None
            except Exception as err:  # noqa: BLE001 - every failure becomes a message for the user
                shown = repr(payload) if len(repr(payload)) <= 60 else repr(payload)[:57] + "..."
                raise gr.Error(f"{_label}: {shown} is not a value this {_kind.lower()} accepts "
                               f"({type(err).__name__}: {str(err)[:120]}).", print_exception=False, duration=ERROR_SECONDS) from None

        block.preprocess = preprocess
        block._studio_wrapped = True
    if not getattr(demo, "_studio_payload_checks", False):
        _name_payload_errors(demo)
        demo._studio_payload_checks = True


def _describe_bad_payload(block_fn, inputs, err: Exception) -> str:
    """Which input of an event could not be read, and why, for a payload that failed before preprocessing."""
    fn_name = getattr(block_fn, "name", None) or getattr(getattr(block_fn, "fn", None), "__name__", "this action")
    if len(inputs) != len(block_fn.inputs):
        return N_(f"{fn_name} takes {len(block_fn.inputs)} inputs, got {len(inputs)}.")
    for block, value in zip(block_fn.inputs, inputs):
        model = getattr(block, "data_model", None)
        if model is None or value is None or getattr(block, "stateful", False):
            continue
        try:
            model.model_validate(value, context={"validate_meta": True})
        except Exception:  # noqa: BLE001 - this is the input that failed
            label = ui_i18n.english(block.label) or block.elem_id or type(block).__name__
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            kind = type(block).__name__.lower()
            what = (N_("a file uploaded to this server (use gradio_client's handle_file)")
                    if kind in ("file", "image", "sketchpad", "imageeditor", "gallery") else N_(f"a {kind} value"))
            return N_(f"{label}: {shown} is not {what}.")
    return N_(f"{fn_name}: an input could not be read ({type(err).__name__}: {str(err)[:160]}).")


def _name_payload_errors(demo: gr.Blocks) -> None:
    """Payloads that fail Gradio's own checks before any component's preprocess (a number where a file belongs,
    a path outside the upload folder, the wrong number of inputs) would reach the user as a generic error. Wrap
    the Blocks' ``preprocess_data`` so those failures name the input and what it takes."""
    original = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - every failure becomes a message for the user
            raise gr.Error(_describe_bad_payload(block_fn, inputs, err), print_exception=False, duration=ERROR_SECONDS) from None

    demo.preprocess_data = preprocess_data


# ---- 3. the server speaks the page's language -------------------------------------------------------------

def translate_events(demo: gr.Blocks) -> None:
    """Translate what the server says in the page's language: every event's error message, and the text its
    handler writes into Markdown panels, buttons, gallery captions and label updates."""
    if getattr(demo, "_studio_i18n", False):
        return
    original_api, original_post = demo.process_api, demo.postprocess_data

    async def process_api(block_fn, inputs, state=None, request=None, *args, **kwargs):
        req = request[0] if isinstance(request, list) and request else request
        lang = core.request_lang(req)
        token = core._LANG.set(lang)
        try:
            return await original_api(block_fn, inputs, state, request, *args, **kwargs)
        except gr.Error as err:
            if lang != "en" and isinstance(err.message, str):
                err.message = core.translate(err.message, lang)
                err.args = (err.message, *err.args[1:])
                if getattr(err, "title", None) == "Error":
                    err.title = core.translate("Error", lang)
            raise
        finally:
            core._LANG.reset(token)

    async def postprocess_data(block_fn, predictions, state):
        lang = core._LANG.get() or "en"
        if lang != "en":
            outputs = list(block_fn.outputs)
            if len(outputs) == 1 and not block_fn.batch:
                predictions = ui_i18n.translate_prediction(outputs[0], predictions, lang)
            elif isinstance(predictions, dict) and "__type__" not in predictions:
                predictions = {b: ui_i18n.translate_prediction(b, v, lang) for b, v in predictions.items()}
            elif isinstance(predictions, (list, tuple)) and len(predictions) == len(outputs):
                predictions = [ui_i18n.translate_prediction(b, v, lang) for b, v in zip(outputs, predictions)]
        return await original_post(block_fn, predictions, state)

    demo.process_api = process_api
    demo.postprocess_data = postprocess_data
    demo._studio_i18n = True


# ---- 4. MCP tools: every output, images as images -----------------------------------------------------------

def _outputs_of(result) -> list:
    """A queued tool's result as one item per output: gradio_client answers a tuple for several outputs."""
    return list(result) if isinstance(result, tuple) else [result]


def _image_items(server, output, root_url: str) -> list | None:
    """MCP content for a gallery (a list of {"image": FileData, "caption"}) or a matplotlib plot
    ({"type": "matplotlib", "plot": "data:image/png;base64,..."}); None for any other output."""
    from gradio_client import utils as client_utils

    types = server.types
    if isinstance(output, dict) and isinstance(output.get("plot"), str) and output["plot"].startswith("data:image/"):
        head, data = output["plot"].split(",", 1)
        return [types.ImageContent(type="image", data=data, mimeType=head[5:].split(";")[0])]
    if isinstance(output, list) and output and all(
            isinstance(item, dict) and client_utils.is_file_obj_with_meta(item.get("image")) for item in output):
        content = []
        for item in output:
            content += _ORIGINAL_POSTPROCESS(server, [item["image"]], root_url)
            if item.get("caption"):
                content.append(types.TextContent(type="text", text=str(item["caption"])))
        return content
    return None


_ORIGINAL_POSTPROCESS = None


_MCP_CLIENTS = None  # MCP session -> its own gradio_client.Client (weak keys: gone with the session)
_MCP_CLIENTS_LOCK = threading.Lock()


def _client_of_session(server, build):
    """The ``Client`` of the MCP session making this call, built by Gradio's own ``_get_or_create_client``
    (``build``) the first time the session calls. Gradio's one client for all is kept for the calls made
    outside a session."""
    import weakref

    global _MCP_CLIENTS
    try:
        session = server.mcp_server.request_context.session
    except (LookupError, AttributeError):
        session = None
    if session is None:
        return build(server)
    with _MCP_CLIENTS_LOCK:
        if _MCP_CLIENTS is None:
            _MCP_CLIENTS = weakref.WeakKeyDictionary()
        client = _MCP_CLIENTS.get(session)
        if client is None:
            shared, server._client_instance = server._client_instance, None
            try:
                client = build(server)  # a new Client (a new Gradio session) for this MCP session
            finally:
                server._client_instance = shared
            _MCP_CLIENTS[session] = client
        return client


def install_mcp_outputs() -> None:
    """Patch 4 (above). A no-op where Gradio's MCP extra is not installed (then there is no MCP server)."""
    global _ORIGINAL_POSTPROCESS
    try:
        from gradio.mcp import GradioMCPServer
    except ImportError:
        return
    if getattr(GradioMCPServer.postprocess_output_data, "_studio_patched", False):
        return
    from anyio.to_thread import run_sync

    without = GradioMCPServer._execute_tool_without_progress
    pop_state, _ORIGINAL_POSTPROCESS = GradioMCPServer.pop_returned_state, GradioMCPServer.postprocess_output_data

    async def execute_without_progress(self, job):
        return _outputs_of(await run_sync(job.result))

    def pop_returned_state(components, data):
        # gradio_client leaves the State outputs out already; only a full list (the unqueued path) holds them
        return pop_state(components, data) if len(data) == len(components) else data

    def postprocess_output_data(self, data, root_url):
        from gradio import processing_utils

        content = []
        for output in processing_utils.add_root_url(data, root_url, None):
            items = _image_items(self, output, root_url)
            content += items if items is not None else _ORIGINAL_POSTPROCESS(self, [output], root_url)
        return content

    shared_client = GradioMCPServer._get_or_create_client

    def get_or_create_client(self):
        return _client_of_session(self, shared_client)

    for name, new, old in (("_execute_tool_without_progress", execute_without_progress, without),
                           ("postprocess_output_data", postprocess_output_data, _ORIGINAL_POSTPROCESS),
                           ("_get_or_create_client", get_or_create_client, shared_client)):
        new._studio_original = old
        new._studio_patched = True
        setattr(GradioMCPServer, name, new)
    pop_returned_state._studio_original = pop_state
    GradioMCPServer.pop_returned_state = staticmethod(pop_returned_state)


# ---- 5. outputs left as they are cost nothing ------------------------------------------------------------------

UNCHANGED = {"__type__": "update"}  # gr.skip(): what Gradio sends for an output a result leaves alone


def skip_unchanged_outputs(demo: gr.Blocks) -> None:
    """Patch 5 (above): the outputs a result leaves alone (``gr.skip()``) bypass Gradio's postprocessing; the
    others are postprocessed by Gradio as before, in one call."""
    if getattr(demo, "_studio_skips", False):
        return
    import copy

    original = demo.postprocess_data

    async def postprocess_data(block_fn, predictions, state):
        outputs = list(block_fn.outputs)
        if (block_fn.batch or not isinstance(predictions, (list, tuple)) or len(predictions) != len(outputs)
                or len(outputs) < 2 or getattr(block_fn, "is_validator_function", False)):
            return await original(block_fn, predictions, state)
        kept = [i for i, v in enumerate(predictions) if not (isinstance(v, dict) and v == UNCHANGED)]
        if len(kept) == len(outputs):
            return await original(block_fn, predictions, state)
        done = []
        if kept:
            part = copy.copy(block_fn)  # the same event with only the outputs that change
            part.outputs = [outputs[i] for i in kept]
            part_predictions = [predictions[i] for i in kept]
            done = await original(part, part_predictions if len(kept) > 1 else part_predictions[0], state)
        result = [dict(UNCHANGED) for _ in outputs]
        for i, value in zip(kept, done):
            result[i] = value
        return result

    postprocess_data._studio_original = original
    demo.postprocess_data = postprocess_data
    demo._studio_skips = True


# ---- 6. a new session does not build every block's config up front ---------------------------------------------

class LazyConfigs(dict):
    """``SessionState.config_values``, each block's config computed from its block when first read."""

    def __init__(self, compute, blocks: dict):
        super().__init__()
        self._compute, self._pending = compute, dict(blocks)
        self._order = list(blocks)  # Gradio's order of the blocks, which a whole read (a deep link) keeps

    def __missing__(self, key):
        if key not in self._pending:
            raise KeyError(key)
        config = self._compute(key, self._pending.pop(key))
        self[key] = config
        return config

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self._pending

    def __setitem__(self, key, value) -> None:
        self._pending.pop(key, None)
        dict.__setitem__(self, key, value)

    def settle(self) -> None:
        if self._order is None:
            return  # settled: every config computed, in Gradio's order
        for key in list(self._pending):
            self[key]  # noqa: B018 - computes it
        known = set(self._order)
        ordered = [(k, dict.__getitem__(self, k)) for k in self._order if dict.__contains__(self, k)]
        ordered += [(k, v) for k, v in dict.items(self) if k not in known]
        dict.clear(self)
        dict.update(self, ordered)
        self._order = None

    def items(self):
        self.settle()
        return dict.items(self)

    def values(self):
        self.settle()
        return dict.values(self)

    def keys(self):
        self.settle()
        return dict.keys(self)

    def __iter__(self):
        self.settle()
        return dict.__iter__(self)

    def __len__(self) -> int:
        return dict.__len__(self) + len(self._pending)


def lazy_session_configs() -> None:
    """Patch 6 (above)."""
    from gradio import state_holder

    cls = state_holder.SessionState
    if getattr(cls.__init__, "_studio_patched", False):
        return
    original = cls.__init__

    def __init__(self, blocks):
        from copy import copy

        self.blocks_config = copy(blocks.default_config)
        self.config_values = LazyConfigs(lambda k, v: self.blocks_config.config_for_block(k, [], v),
                                         {k: v for k, v in self.blocks_config.blocks.items() if k in blocks.blocks})
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    __init__._studio_original = original
    __init__._studio_patched = True
    cls.__init__ = __init__
