"""Who may see and change what on a panel page.

The session middleware (sign-in) sets ``req.context.director`` and refuses a
state-changing request without the CSRF token; these checks repeat what a
page relies on, so a page never acts for nobody or for a viewer.
"""

from __future__ import annotations

import hmac

import falcon

from control_api.errors import PermissionDenied
from control_api.panel.director import Director, Role

LOGIN_PATH = "/login"


def director_or_login(req: falcon.Request, resp: falcon.Response) -> Director | None:
    """The signed-in director, or None after pointing the response at the sign-in page."""
    director: Director | None = getattr(req.context, "director", None)
    if director is None:
        resp.status = falcon.HTTP_303
        resp.location = LOGIN_PATH
    return director


def require(director: Director, needed: Role, form: dict[str, str], header: str | None) -> None:
    """A change by ``director``: refused (403) below ``needed`` or without the CSRF token."""
    if not director.may(needed):
        raise PermissionDenied(f"this needs the {needed} role")
    sent = form.get("csrf_token") or header or ""
    if not hmac.compare_digest(sent.encode(), director.csrf_token.encode()):
        raise PermissionDenied("the form's CSRF token is missing or stale: reload the page")
