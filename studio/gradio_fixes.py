"""A fix for a race in Gradio 6's file cache that the load test (benchmarks/load.py) hit.

Gradio names a result image's cache file by the hash of its bytes, so identical results from different users
share one file. ``processing_utils.save_pil_to_cache`` (every ``gr.Image`` / ``gr.Gallery`` result) and
``save_bytes_to_cache`` rewrite that file in place each time: ``write_bytes`` first truncates it. A download
of the same file running at that moment reads a truncated body ("peer closed connection without sending
complete message body (received 0 bytes, expected 5359)" with 16 clients asking for the same VAE
interpolation). Gradio's own ``save_file_to_cache`` already writes under a temporary name and renames into
place; :func:`install` makes the other two do the same: a reader always sees a whole file, old or new.

While it is there, result PNGs are written at zlib level 1 rather than Pillow's default 6 (:data:`PNG_LEVEL`):
encoding the Diffusion tab's previews and the VAE latent map showed in the profiles of benchmarks/tab_paths.py.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
    import io

    from gradio import processing_utils as pu

    with io.BytesIO() as out:
        img.save(out, "png", pnginfo=pu.get_pil_metadata(img), compress_level=PNG_LEVEL)
        return out.getvalue()


def install() -> None:
    from gradio import processing_utils as pu

    if getattr(pu.save_pil_to_cache, "_studio_atomic", False):
        return

    def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = encode_png(img) if format.lower() == "png" else pu.encode_pil_to_bytes(img, format)
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        write_atomically(path, data)
        return str(path)

    def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
        folder = Path(cache_dir) / pu.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        if not Path(file_name).suffix:
            file_name = file_name + pu.detect_audio_format(data)
        path = (folder / Path(file_name).name).resolve()
        write_atomically(path, data)
        return str(path)

    save_pil_to_cache._studio_atomic = True
    pu.save_pil_to_cache = save_pil_to_cache
    pu.save_bytes_to_cache = save_bytes_to_cache
