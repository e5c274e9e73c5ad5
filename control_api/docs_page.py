"""``GET /v1/docs``: the API reference, Redoc rendering ``/v1/openapi.json``.

No token: the document is public too. Everything the page loads is served here
(Redoc's standalone bundle is vendored in ``control_api/static``, its licence
beside it), and the Content-Security-Policy lets the page run same-origin
scripts only. Redoc's search runs in a worker Redoc builds from its own bundle
(a ``blob:`` URL of this origin); its styles are injected at run time.
"""

from __future__ import annotations

from importlib.resources import files

import falcon

from control_api.errors import NotFound

REDOC_VERSION = "2.5.4"
REDOC_BUNDLE = f"redoc-{REDOC_VERSION}.standalone.js"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "worker-src blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
# The page is small and names the bundle by version: revalidate the page, keep the bundle.
PAGE_CACHE = "no-cache"
BUNDLE_CACHE = "public, max-age=31536000, immutable"
# name under /v1/docs/ -> (file in control_api/static, Content-Type)
_ASSETS = {
    REDOC_BUNDLE: (REDOC_BUNDLE, "text/javascript; charset=utf-8"),
    "redoc-LICENSE.txt": ("redoc-LICENSE.txt", "text/plain; charset=utf-8"),
}


def _static(name: str) -> bytes:
    return files("control_api").joinpath("static", name).read_bytes()


class DocsPage:
    auth = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = _static("docs.html")
        resp.content_type = "text/html; charset=utf-8"
        resp.cache_control = [PAGE_CACHE]
        resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.set_header("Referrer-Policy", "no-referrer")


class DocsAsset:
    """The page's vendored files, read once per process."""

    auth = None

    def __init__(self) -> None:
        self._loaded: dict[str, bytes] = {}

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in _ASSETS:
            raise NotFound("no such resource")
        filename, content_type = _ASSETS[name]
        if name not in self._loaded:
            self._loaded[name] = _static(filename)
        resp.data = self._loaded[name]
        resp.content_type = content_type
        resp.cache_control = [BUNDLE_CACHE]
