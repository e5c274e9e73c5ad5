"""The panel's vendored files (``control_api/panel/static``), served by the app.

Each name carries its version or a content hash, so a file is cached for a
year and a new release never meets a stale copy.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files

import falcon

from control_api.errors import NotFound

PREFIX = "/panel/static"
FILE_CACHE = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return files("control_api.panel").joinpath("static", name).read_bytes()


@cache
def static_url(name: str) -> str:
    """The URL of a vendored file, with a hash of its bytes as the cache key."""
    digest = hashlib.sha256(_read(name)).hexdigest()[:12]
    return f"{PREFIX}/{name}?v={digest}"


def _names() -> list[str]:
    root = files("control_api.panel").joinpath("static")
    return sorted(p.name for p in root.iterdir() if p.is_file())


class StaticFile:
    auth = None

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if name not in _names() or suffix not in _MEDIA_TYPES:
            raise NotFound("no such file")
        resp.data = _read(name)
        resp.content_type = _MEDIA_TYPES[suffix]
        resp.cache_control = [FILE_CACHE]
