"""Who may do what when the studio is served to others: hosted mode, and the host's own actions.

Plain Python (no Gradio, no torch). ``studio.config`` decides whether the studio is *hosted* (a Hugging Face Space,
or a server listening on an address other machines reach) and why; this module keeps the host's actions with the
host. The tabs' wiring (``studio.ui.wiring``) records who is asking (:class:`Visitor`) around each handler call.

The host's actions: loading and unloading models (the Models tab) and adding a model (any tab's add box, or a
model picker given a key the studio does not know). On a studio that is not hosted (a laptop, ``python app.py``
on 127.0.0.1) whoever uses it is the host. Hosted, a request is the host's when

* it carries the host token (``STUDIO_HOST_TOKEN``): in the ``X-Studio-Host-Token`` header (an API client), or
  its session signed in with it (the Models tab's *Host token* box, or the ``models_host_sign_in`` endpoint); or
* off a Space, it comes from this machine itself (a loopback address, no proxy's forwarding headers): the teacher
  at the classroom server. On a Space every request arrives through its proxy, so only the token counts there.
"""

from __future__ import annotations

import hmac
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Mapping

from studio.errors import StudioError
from studio.i18n import N_

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")  # a proxy's: the request is not from here
TOKEN_HEADER = "x-studio-host-token"
SIGN_IN_SECONDS = 8 * 3600  # a signed-in session stays the host's for a teaching day


@dataclass(frozen=True)
class Visitor:
    """Who a request comes from, as the server saw it.

    Args:
        session (`str`, *optional*): the page's (or API client's) session, Gradio's ``session_hash``.
        client (`str`, *optional*): the client's address.
        headers (`Mapping[str, str]`): the request's headers, names in lower case.
    """

    session: str | None = None
    client: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_request(cls, request) -> "Visitor":
        """From a ``gr.Request`` (or None: a call that did not come through the server, a test or a notebook)."""
        if request is None:
            return cls()
        try:
            headers = {str(k).lower(): str(v) for k, v in dict(request.headers or {}).items()}
        except Exception:  # noqa: BLE001 - a request without readable headers is a visitor without them
            headers = {}
        client = getattr(getattr(request, "client", None), "host", None)
        return cls(session=getattr(request, "session_hash", None), client=client, headers=headers)

    @property
    def local(self) -> bool:
        """From this machine: a loopback address, and no proxy's forwarding headers."""
        return self.client in LOOPBACK and not any(h in self.headers for h in FORWARDING_HEADERS)

    @property
    def owner(self):
        """What the compute gate charges (studio.serving): the session, else the client, else None."""
        return ("session", self.session) if self.session else (("client", self.client) if self.client else None)


_VISITOR: ContextVar = ContextVar("studio_visitor", default=None)


@contextmanager
def visiting(visitor: Visitor | None):
    """Within this block, requests come from ``visitor``."""
    token = _VISITOR.set(visitor)
    try:
        yield visitor
    finally:
        _VISITOR.reset(token)


def current_visitor() -> Visitor | None:
    """The visitor of the request being handled; None outside a served request (a test, a notebook, the CLI)."""
    return _VISITOR.get()


class HostPolicy:
    """Whether a request may do the host's actions.

    Args:
        hosted (`bool`): the studio is served to others (``studio.config.Settings.hosted``).
        token (`str`, *optional*): the host token (``STUDIO_HOST_TOKEN``); None: no token (hosted, then, only
            requests from this machine are the host's, and none on a Space).
        on_space (`bool`): running on a Hugging Face Space (``SPACE_ID``): loopback never counts there.
        reason (`str`): why the studio is hosted or not, for the start-up line and the Models tab.
    """

    def __init__(self, *, hosted: bool = False, token: str | None = None, on_space: bool = False, reason: str = ""):
        self.hosted, self.token, self.on_space, self.reason = hosted, token or None, on_space, reason
        self._signed_in: dict[str, float] = {}  # session -> until (monotonic)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> "HostPolicy":
        return cls(hosted=settings.hosted, token=settings.host_token, on_space=settings.on_space,
                   reason=settings.hosted_reason)

    def _token_ok(self, given) -> bool:
        return bool(self.token) and isinstance(given, str) and hmac.compare_digest(given.encode(), self.token.encode())

    def is_host(self, visitor: Visitor | None = None) -> bool:
        """Whether ``visitor`` (default: the current request's) is the host."""
        if not self.hosted:
            return True
        visitor = current_visitor() if visitor is None else visitor
        if visitor is None:  # not a served request: the host's own code (preload, a test, a notebook)
            return True
        if self._token_ok(visitor.headers.get(TOKEN_HEADER)):
            return True
        if visitor.session:
            with self._lock:
                until = self._signed_in.get(visitor.session)
            if until is not None and until > time.monotonic():
                return True
        return visitor.local and not self.on_space

    def require_host(self, what: str) -> None:
        """Refuse ``what`` (e.g. "unload a model") unless the request is the host's, saying how to be the host."""
        if self.is_host():
            return
        if self.token:
            how = N_("sign in with the host token on the Models tab (or send it in the X-Studio-Host-Token header)")
        elif self.on_space:
            how = N_("the host sets STUDIO_HOST_TOKEN in the Space's secrets, then signs in with it on the Models tab")
        else:
            how = N_("the host sets STUDIO_HOST_TOKEN, or does it on the machine running the studio")
        raise StudioError(N_(f"Only the host may {what} on this studio, which is served to others "
                             f"({self.reason}): {how}."))

    def sign_in(self, token, visitor: Visitor | None = None) -> bool:
        """Make the visitor's session the host's for the day if ``token`` is the host token."""
        visitor = current_visitor() if visitor is None else visitor
        if not self._token_ok(token):
            return False
        if visitor is not None and visitor.session:
            with self._lock:
                now = time.monotonic()
                self._signed_in = {s: u for s, u in self._signed_in.items() if u > now}
                self._signed_in[visitor.session] = now + SIGN_IN_SECONDS
        return True
