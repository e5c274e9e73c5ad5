"""The panel's routes, added to the API's app by ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from control_api.deps import Deps
from control_api.panel import static_files
from control_api.panel.devices import add_device_routes
from control_api.panel.templates import Pages, environment

# The panel's pages live outside /v1 (the API) and the operations endpoints.
PATH_PREFIXES = (
    "/login",
    "/logout",
    "/panel/",
    "/devices",
    "/media",
    "/playlists",
    "/schedules",
    "/plays",
    "/users",
)


def is_panel_path(path: str) -> bool:
    """Whether ``path`` is a panel page (HTML), not an operation of the API document."""
    return path == "/" or path.startswith(PATH_PREFIXES)


def add_routes(app: Any, deps: Deps, forget_device: Callable[[str], None]) -> Pages:
    """Add every panel page and the vendored files; returns the page renderer.

    Panel resources declare ``auth = "session"``: the bearer-token middleware
    leaves them to the panel's session middleware. ``forget_device`` drops this
    process's cached token of a device whose token a page revoked.
    """
    pages = Pages(environment())
    app.add_route(f"{static_files.PREFIX}/{{name}}", static_files.StaticFile())
    add_device_routes(app, deps, pages, forget_device)
    return pages
