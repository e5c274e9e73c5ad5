"""Rendering panel pages: one Jinja2 environment, built by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import falcon
import jinja2
import jinja2.runtime
import markupsafe

from control_api.panel.director import Director
from control_api.panel.static_files import static_url

# (label, path): the sections the navigation names (PROTOCOL, "Director web panel").
SECTIONS: tuple[tuple[str, str], ...] = (
    ("Devices", "/devices"),
    ("Plays", "/plays"),
)

# Pages are rendered per request with the director's CSRF token: never cached.
PAGE_CACHE = "no-store"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


@jinja2.pass_context
def csrf_field(context: jinja2.runtime.Context) -> markupsafe.Markup:
    """The hidden field every state-changing form carries (PROTOCOL: ``csrf_token``)."""
    field = markupsafe.Markup('<input type="hidden" name="csrf_token" value="{}">')
    return field.format(context.get("csrf_token", ""))  # format() escapes the value


def environment() -> jinja2.Environment:
    """Templates from ``control_api/panel/templates``; every value HTML-escaped,
    an undefined name an error (a typo never renders as an empty string)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("control_api.panel", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["sections"] = SECTIONS
    env.globals["csrf_field"] = csrf_field
    return env


class Pages:
    """Renders a template into a response with what every page needs."""

    def __init__(self, env: jinja2.Environment) -> None:
        self._env = env

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        template: str,
        context: Mapping[str, Any] | None = None,
        *,
        status: str = falcon.HTTP_200,
    ) -> None:
        director: Director | None = getattr(req.context, "director", None)
        values: dict[str, Any] = {
            "director": director,
            "csrf_token": director.csrf_token if director is not None else "",
            "current_path": req.path,
            # An htmx request asks for the part of the page it swaps in.
            "partial": req.get_header("HX-Request") == "true",
        }
        values.update(context or {})
        resp.status = status
        resp.content_type = "text/html; charset=utf-8"
        resp.text = self._env.get_template(template).render(values)
        resp.cache_control = [PAGE_CACHE]
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.set_header("Referrer-Policy", "same-origin")
        resp.set_header("X-Frame-Options", "DENY")
