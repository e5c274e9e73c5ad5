"""``/users``: the tenant's director accounts, for admins (list, add, reset a password,
disable and enable)."""

from __future__ import annotations

import falcon

from control_api.deps import Deps
from control_api.errors import Conflict, InvalidField
from control_api.panel.director import ROLES, Role
from control_api.panel.forms import read_form, signed_in
from control_api.panel.templates import Pages
from control_api.services import accounts

# What a change's redirect says it did (``/users?done=...``).
NOTICES = {
    "added": "User added.",
    "password": "Password changed. That user is signed out everywhere.",
    "disabled": "User disabled. That user is signed out everywhere and cannot sign in.",
    "enabled": "User enabled. That user can sign in again.",
}


class _UsersPage:
    auth = "session"
    read_role: Role = "admin"
    change_role: Role = "admin"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps = deps
        self.pages = pages

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        *,
        error: str | None = None,
        status: str = falcon.HTTP_200,
        added: dict[str, str] | None = None,
    ) -> None:
        director = req.context.director
        users = accounts.list_users(self.deps.db, director.tenant_id)
        notice = NOTICES.get(req.get_param("done") or "", "") if error is None else ""
        context = {
            "users": users,
            "me": director.user_id,
            "roles": ROLES,
            "error": error,
            "added": added or {},
            "notice": notice,
        }
        self.pages.render(req, resp, "users.html", context, status=status)


class Users(_UsersPage):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Add an account to the signed-in admin's tenant."""
        form = read_form(req, self.deps.settings.max_json_bytes)
        try:
            accounts.add_user(
                self.deps.db,
                self.deps.passwords,
                tenant_id=req.context.director.tenant_id,
                email=form.get("email", ""),
                role=form.get("role", ""),
                password=form.get("password", ""),
                now=self.deps.now(),
            )
        except (InvalidField, Conflict) as exc:
            status = falcon.HTTP_409 if isinstance(exc, Conflict) else falcon.HTTP_422
            added = {"email": form.get("email", "")[:254], "role": form.get("role", "")}
            self.render(req, resp, error=exc.message, status=status, added=added)
            return
        resp.status = falcon.HTTP_303
        resp.location = "/users?done=added"


class UserPassword(_UsersPage):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """A new password for an account of the tenant; its sessions end."""
        form = read_form(req, self.deps.settings.max_json_bytes)
        try:
            accounts.reset_password(
                self.deps.db,
                self.deps.passwords,
                form.get("email", ""),
                form.get("password", ""),
                tenant_id=req.context.director.tenant_id,
                now=self.deps.now(),
            )
        except InvalidField as exc:
            self.render(req, resp, error=exc.message, status=falcon.HTTP_422)
            return
        resp.status = falcon.HTTP_303
        resp.location = "/users?done=password"


class _UserAccess(_UsersPage):
    """``POST /users/disable`` and ``/users/enable`` (admin): an account of the tenant,
    by email. Another tenant's account is not found (404)."""

    disabled: bool

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        director = signed_in(req)
        form = read_form(req, self.deps.settings.max_json_bytes)
        try:
            accounts.set_disabled(
                self.deps.db,
                form.get("email", "")[:300],
                self.disabled,
                tenant_id=director.tenant_id,
                acting_user_id=director.user_id,
                now=self.deps.now(),
            )
        except Conflict as exc:
            self.render(req, resp, error=exc.message, status=falcon.HTTP_409)
            return
        resp.status = falcon.HTTP_303
        resp.location = f"/users?done={'disabled' if self.disabled else 'enabled'}"


class DisableUser(_UserAccess):
    disabled = True


class EnableUser(_UserAccess):
    disabled = False
