"""Errors on panel paths answered as HTML (a page, or a fragment for htmx), not the API's JSON."""

from __future__ import annotations

import falcon

from control_api.panel.templates import Pages

_TITLES = {
    400: "Bad request",
    401: "Signed out",
    403: "Not allowed",
    404: "Page not found",
    405: "Not allowed",
    413: "Too large",
    429: "Too many attempts",
}
_MESSAGES = {
    401: "Your session has ended. Please sign in again.",
    404: "There is no such page.",
    500: "Something went wrong on the server. Please try again.",
}


def render_error(
    pages: Pages,
    req: falcon.Request,
    resp: falcon.Response,
    *,
    status: int,
    message: str,
    headers: dict[str, str],
) -> None:
    """The answer to an error on a panel path; ``message`` is the API's (safe to show)."""
    for name, value in headers.items():
        if name.lower() != "www-authenticate":  # a browser page has no bearer challenge
            resp.set_header(name, value)
    shown = _MESSAGES.get(status, message) if status in (401, 404) or status >= 500 else message
    title = _TITLES.get(status, "Error" if status < 500 else "Server error")
    partial = req.get_header("HX-Request") == "true"
    template = "error_fragment.html" if partial else "error.html"
    context = {"title": title, "message": shown, "status_code": status}
    pages.render(req, resp, template, context, status=falcon.code_to_http_status(status))
