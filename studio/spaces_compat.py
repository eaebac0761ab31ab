"""``GPU``: Hugging Face ZeroGPU's ``@spaces.GPU`` where the ``spaces`` package is installed, else a no-op.

Use it as ``@GPU`` or ``@GPU(duration=120)`` on heavy handlers. Off a ZeroGPU Space, ``spaces.GPU`` is
itself a pass-through, so the decorated function behaves the same everywhere.
"""

from __future__ import annotations

try:  # pragma: no cover - depends on the environment
    import spaces as _spaces

    GPU = _spaces.GPU
except ImportError:
    def GPU(fn=None, **_kwargs):  # noqa: N802 - mirrors spaces.GPU
        """No-op stand-in for ``spaces.GPU``: returns the function unchanged, with or without arguments."""
        if fn is None:
            return lambda f: GPU(f)
        if not callable(fn):
            raise TypeError("GPU is used as @GPU or @GPU(duration=...)")
        return fn  # unchanged: no wrapper, no __wrapped__ (inspect and Gradio follow that chain)
