"""``/login``, ``/logout`` and ``/``: signing in and out of the panel.

The sign-in form is protected against login CSRF (a foreign page signing the
browser in to the attacker's account) by a double-submit token: a random
``lomuz_login_csrf`` cookie whose value the form repeats in ``csrf_token``.
"""

from __future__ import annotations

import hmac
import secrets

import falcon

from control_api.core.accounts import safe_next_path
from control_api.core.proxies import MAX_ADDRESS_CHARS, client_address, is_https
from control_api.deps import Deps
from control_api.errors import AccountDisabled, BadCredentials, RateLimited
from control_api.panel.director import Role
from control_api.panel.forms import read_form
from control_api.panel.sessions import CSRF_FIELD, SESSION_COOKIE, cookie_value, session_limits
from control_api.panel.templates import Pages
from control_api.services import accounts

LOGIN_CSRF_COOKIE = "lomuz_login_csrf"
WRONG_CREDENTIALS = "Wrong email or password."
ACCOUNT_DISABLED = "This account is disabled. An admin of your organisation can enable it again."
HOME = "/devices"


def secure_request(req: falcon.Request, deps: Deps) -> bool:
    """HTTPS directly, or as a trusted proxy says: cookies then carry ``Secure``."""
    return is_https(
        req.scheme,
        req.remote_addr or "",
        req.get_header("X-Forwarded-Proto"),
        deps.settings.trusted_proxies,
    )


def _set_cookie(
    req: falcon.Request,
    resp: falcon.Response,
    deps: Deps,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int | None = None,
) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        secure=secure_request(req, deps),
        http_only=True,
        same_site="Lax",
    )


class Login:
    auth = None  # public: the form is how a session starts

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps = deps
        self.pages = pages
        self.limits = session_limits(deps)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        next_path = safe_next_path(req.get_param("next"))
        signed_in = accounts.session_director(
            self.deps.db, cookie_value(req, SESSION_COOKIE), self.limits, now=self.deps.now()
        )
        if signed_in is not None:  # already signed in: on to the page
            resp.status = falcon.HTTP_303
            resp.location = next_path
            return
        self._form(req, resp, next_path=next_path)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = read_form(req, self.deps.settings.max_json_bytes)
        next_path = safe_next_path(form.get("next"))
        email = form.get("email", "")
        expected = cookie_value(req, LOGIN_CSRF_COOKIE) or ""
        given = form.get(CSRF_FIELD, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            message = "The sign-in form had expired. Please sign in again."
            self._form(
                req, resp, next_path, email=email, error=message, status=falcon.HTTP_403, fresh=True
            )
            return
        address = client_address(
            req.remote_addr or "unknown",
            req.get_header("X-Forwarded-For"),
            self.deps.settings.trusted_proxies,
        )[:MAX_ADDRESS_CHARS]
        try:
            signed_in = accounts.sign_in(
                self.deps.db,
                self.deps.passwords,
                email=email,
                password=form.get("password", ""),
                address=address,
                limits=self.limits,
                now=self.deps.now(),
            )
        except BadCredentials:
            self._form(
                req, resp, next_path, email=email, error=WRONG_CREDENTIALS, status=falcon.HTTP_401
            )
            return
        except AccountDisabled:
            self._form(
                req, resp, next_path, email=email, error=ACCOUNT_DISABLED, status=falcon.HTTP_403
            )
            return
        except RateLimited as exc:
            resp.set_header("Retry-After", str(exc.retry_after_s))
            message = (
                "Too many failed sign-ins for this account."
                f" Try again in {exc.retry_after_s} seconds."
            )
            self._form(req, resp, next_path, email=email, error=message, status=falcon.HTTP_429)
            return
        # A session this browser had before ends: one browser, one session.
        accounts.sign_out(self.deps.db, cookie_value(req, SESSION_COOKIE))
        _set_cookie(
            req, resp, self.deps, SESSION_COOKIE, signed_in.token, path="/",
            max_age=self.limits.max_s,
        )  # fmt: skip
        resp.unset_cookie(LOGIN_CSRF_COOKIE, path="/login")
        resp.status = falcon.HTTP_303
        resp.location = next_path

    def _form(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        next_path: str,
        *,
        email: str = "",
        error: str | None = None,
        status: str = falcon.HTTP_200,
        fresh: bool = False,
    ) -> None:
        token = None if fresh else cookie_value(req, LOGIN_CSRF_COOKIE)
        if not token or len(token) > 100:
            token = secrets.token_urlsafe(32)
            _set_cookie(req, resp, self.deps, LOGIN_CSRF_COOKIE, token, path="/login")
        context = {"csrf_token": token, "next": next_path, "email": email[:254], "error": error}
        self.pages.render(req, resp, "login.html", context, status=status)


class Logout:
    auth = "session"
    change_role: Role = "viewer"  # every director may sign out

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        accounts.sign_out(self.deps.db, cookie_value(req, SESSION_COOKIE))
        resp.unset_cookie(SESSION_COOKIE, path="/")
        resp.status = falcon.HTTP_303
        resp.location = "/login"


class Home:
    """``GET /``: the panel's first page (the session middleware sends strangers to /login)."""

    auth = "session"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_303
        resp.location = HOME
