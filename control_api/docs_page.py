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

REDOC_VERSION = "2.5.4"
REDOC_BUNDLE = f"redoc-{REDOC_VERSION}.standalone.js"
PAGE = "/v1/docs"
# path -> (summary, operationId, media type); each file of control_api/static by its name.
FILES = {
    f"{PAGE}/{REDOC_BUNDLE}": (
        "Redoc's standalone bundle, which renders the reference page",
        "docsRedoc",
        "text/javascript",
    ),
    f"{PAGE}/redoc-LICENSE.txt": (
        "The licence of Redoc and of the libraries its bundle carries",
        "docsRedocLicence",
        "text/plain",
    ),
}

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
FILE_CACHE = "public, max-age=31536000, immutable"


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


class DocsFile:
    """One vendored file, read on its first request."""

    auth = None

    def __init__(self, name: str, media_type: str) -> None:
        self._name = name
        self._content_type = f"{media_type}; charset=utf-8"
        self._data: bytes | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._data is None:
            self._data = _static(self._name)
        resp.data = self._data
        resp.content_type = self._content_type
        resp.cache_control = [FILE_CACHE]


def routes() -> list[tuple[str, object]]:
    """(path, resource) of the page and of each file it loads."""
    out: list[tuple[str, object]] = [(PAGE, DocsPage())]
    for path, (_summary, _operation_id, media_type) in FILES.items():
        out.append((path, DocsFile(path.rsplit("/", 1)[1], media_type)))
    return out
