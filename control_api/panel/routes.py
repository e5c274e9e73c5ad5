"""The panel's routes, added to the API's app by ``create_app``."""

from __future__ import annotations

from typing import Any

from control_api.deps import Deps
from control_api.panel import sign_in, static_files, users
from control_api.panel.devices import add_device_routes
from control_api.panel.media import add_media_routes
from control_api.panel.playlists import add_playlist_routes
from control_api.panel.plays import add_play_routes
from control_api.panel.schedules import add_schedule_routes
from control_api.panel.templates import Pages, environment
from control_api.services.devices import TokenRevocation

# The panel's pages live outside /v1 (the API) and the operations endpoints.
PATH_PREFIXES = (
    "/login",
    "/logout",
    "/panel/",
    "/devices",
    "/overrides",
    "/media",
    "/playlists",
    "/schedules",
    "/plays",
    "/users",
)


def is_panel_path(path: str) -> bool:
    """Whether ``path`` is a panel page (HTML), not an operation of the API document."""
    return path == "/" or path.startswith(PATH_PREFIXES)


def add_routes(app: Any, deps: Deps, revocation: TokenRevocation) -> Pages:
    """Add every panel page and the vendored files; returns the page renderer.

    Panel resources declare ``auth = "session"``: the bearer-token middleware
    leaves them to the panel's session middleware (``panel/sessions.py``), which
    checks the session, the CSRF token and the role a change needs
    (``change_role``, "editor" unless the resource says otherwise).
    ``revocation`` is what a page that revokes a device's token does with it
    (``services.devices.TokenRevocation``).
    """
    pages = Pages(environment())
    app.add_route(f"{static_files.PREFIX}/{{name}}", static_files.StaticFile())
    app.add_route("/", sign_in.Home())
    app.add_route("/login", sign_in.Login(deps, pages))
    app.add_route("/logout", sign_in.Logout(deps))
    app.add_route("/users", users.Users(deps, pages))
    app.add_route("/users/password", users.UserPassword(deps, pages))
    app.add_route("/users/disable", users.DisableUser(deps, pages))
    app.add_route("/users/enable", users.EnableUser(deps, pages))
    add_device_routes(app, deps, pages, revocation)
    add_schedule_routes(app, deps, pages)
    add_media_routes(app, deps, pages)
    add_playlist_routes(app, deps, pages)
    add_play_routes(app, deps, pages)
    return pages
