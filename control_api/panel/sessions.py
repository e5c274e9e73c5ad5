"""The panel's session middleware: who is signed in, CSRF and role checks, for every panel page.

For a resource with ``auth = "session"`` it reads the ``lomuz_session`` cookie
and sets ``req.context.director``. Without a live session a GET/HEAD is sent
to ``/login?next=<the page>`` (303) and anything else gets 401.

Every other method (a change) must carry the session's CSRF token, as the
form field ``csrf_token`` or the header ``X-CSRF-Token`` (403 without it), and
the director's role must allow what the resource's ``change_role`` says a
change needs: ``"editor"`` unless the resource says otherwise (``"viewer"``
for signing out, ``"admin"`` for user management). Reading needs
``read_role`` (``"viewer"`` unless the resource says otherwise). A page
cannot forget these checks: they run before its responder.

A multipart body (an upload) is not read here: it carries the header
(``base.html`` sets it on every htmx request).
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

import falcon

from control_api.core.accounts import safe_next_path
from control_api.deps import Deps
from control_api.errors import PermissionDenied, Unauthenticated
from control_api.panel.director import Role
from control_api.panel.forms import read_form
from control_api.services import accounts

SESSION_COOKIE = "lomuz_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_CHANGE_ROLE: Role = "editor"
DEFAULT_READ_ROLE: Role = "viewer"


def session_limits(deps: Deps) -> accounts.SessionLimits:
    return accounts.SessionLimits(deps.settings.session_idle_s, deps.settings.session_max_s)


def cookie_value(req: falcon.Request, name: str) -> str | None:
    values = req.get_cookie_values(name)
    return values[0] if values else None


def login_location(relative_uri: str) -> str:
    """``/login``, with ``next`` naming the page asked for (when it is one to return to)."""
    target = safe_next_path(relative_uri)
    return "/login" if target == "/" else f"/login?next={quote(target, safe='')}"


def csrf_matches(req: falcon.Request, expected: str, max_form_bytes: int) -> bool:
    given = req.get_header(CSRF_HEADER)
    if given is None:
        given = read_form(req, max_form_bytes).get(CSRF_FIELD)
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class PanelSessions:
    """Falcon middleware, next to ``TokenAuth`` (which leaves ``auth = "session"`` to it)."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._limits = session_limits(deps)

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None or getattr(resource, "auth", "admin") != "session":
            return
        director = accounts.session_director(
            self._deps.db,
            cookie_value(req, SESSION_COOKIE),
            self._limits,
            now=self._deps.now(),
        )
        if director is None:
            location = login_location(req.relative_uri)
            if req.get_header("HX-Request") == "true":
                # htmx would follow a 303 and swap the sign-in page into a fragment.
                resp.set_header("HX-Redirect", location)
            if req.method in ("GET", "HEAD"):
                resp.status = falcon.HTTP_303
                resp.location = location
                resp.complete = True
                return
            raise Unauthenticated("sign in first: no panel session, or it ended", "no_session")
        req.context.director = director
        if req.method in SAFE_METHODS:
            read_role: Role = getattr(resource, "read_role", DEFAULT_READ_ROLE)
            if not director.may(read_role):
                raise PermissionDenied(
                    f"this page needs the {read_role} role; you are {director.role}",
                    "role_forbidden",
                )
            return
        if not csrf_matches(req, director.csrf_token, self._deps.settings.max_json_bytes):
            raise PermissionDenied(
                "missing or wrong CSRF token: reload the page and try again", "csrf_failed"
            )
        needed: Role = getattr(resource, "change_role", DEFAULT_CHANGE_ROLE)
        if not director.may(needed):
            raise PermissionDenied(
                f"this change needs the {needed} role; you are {director.role}", "role_forbidden"
            )
