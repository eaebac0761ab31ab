"""Errors whose message is meant for the person at the screen.

Engines and the registry raise these (or ``ValueError`` for bad parameters); the tab layer turns them into
``gr.Error`` so the message reaches the user unchanged and the studio keeps serving.
"""


class StudioError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing sentence that says what to do."""


class UnknownModelError(StudioError, KeyError):
    """A model key that is not in the registry's catalog."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return self.args[0] if self.args else "unknown model"


class ModelLoadError(StudioError):
    """A model could not be loaded: missing, corrupt, unreachable or unsafe checkpoint."""


class UnsafeCheckpointError(ModelLoadError):
    """The source holds only pickle weights (.bin/.pt/.ckpt), which the studio refuses to load."""


class HubUnavailableError(ModelLoadError):
    """A Hub model is not cached locally and the Hub cannot be reached (or Hub loading is off)."""
