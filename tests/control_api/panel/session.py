"""A stand-in for the panel's session middleware: ``X-Test-Director: <email>`` signs in
as the director registered under that email (until sign-in is on this branch)."""

from __future__ import annotations

from typing import Any

import falcon

from control_api.panel.director import Director, Role
from control_api.store import repository as repo
from tests.control_api.conftest import Api

CSRF = "csrf-for-tests"


class FakeSessions:
    def __init__(self) -> None:
        self.directors: dict[str, Director] = {}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        email = req.get_header("X-Test-Director")
        if email in self.directors:
            req.context.director = self.directors[email]


class Panel:
    """The API app with directors signed in by header; ``get``/``post`` as one of them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.sessions = FakeSessions()
        api.app.add_middleware(self.sessions)

    def director(self, admin_token: str, email: str, role: Role = "editor") -> str:
        with self.api.db.read() as s:
            principal = repo.lookup_token(s, repo.hash_secret(admin_token))
        assert principal is not None
        self.sessions.directors[email] = Director(
            f"u-{email}", principal.tenant_id, email, role, CSRF
        )
        return email

    def get(self, email: str, path: str, **kw: Any) -> Any:
        headers = {"X-Test-Director": email, **kw.pop("headers", {})}
        return self.api.client.simulate_get(path, headers=headers, **kw)

    def post(
        self, email: str, path: str, form: dict[str, str] | None = None, *, csrf: bool = True
    ) -> Any:
        fields = {**({"csrf_token": CSRF} if csrf else {}), **(form or {})}
        return self.api.client.simulate_post(
            path,
            headers={"X-Test-Director": email, "Content-Type": "application/x-www-form-urlencoded"},
            body="&".join(f"{k}={v}" for k, v in fields.items()),
        )
