"""Serving stored media over HTTP with Range, If-Range and conditional requests.

Our own code on purpose: Falcon's static route ignores ``If-Range`` (a resumed
download could splice two different files). The rules are in
``control_api.core.ranges``; this module only applies them to a Falcon
response and streams the selected bytes in bounded chunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import falcon

from control_api.core.ranges import (
    ByteRange,
    RangeOutcome,
    content_range,
    if_none_match_matches,
    if_range_allows,
    parse_range,
    unsatisfied_content_range,
)
from control_api.http import send
from control_api.media import MediaNotFound, MediaStorageError
from control_api.models import error

__all__ = ["CACHE_CONTROL", "STREAM_CHUNK_BYTES", "serve_media"]

STREAM_CHUNK_BYTES = 64 * 1024
# private: media is per tenant (a token is needed), so no shared cache may keep it.
CACHE_CONTROL = "private, max-age=31536000, immutable"


def serve_media(  # noqa: PLR0917 (signature agreed with the API resources)
    req: falcon.Request,
    resp: falcon.Response,
    path: Path,
    sha256: str,
    size_bytes: int,
    content_type: str,
) -> None:
    """Fill ``resp`` with the file at ``path`` (GET or HEAD), honouring conditionals.

    The caller has already checked authorisation and that ``sha256`` is an asset
    of the caller's tenant; ``size_bytes`` and ``content_type`` come from its
    database. Raises ``MediaNotFound`` when the file is missing and
    ``MediaStorageError`` when its size on disk differs from ``size_bytes``.
    """
    try:
        on_disk_bytes = path.stat().st_size
    except FileNotFoundError as exc:
        raise MediaNotFound(sha256) from exc
    except OSError as exc:
        raise MediaStorageError(f"cannot stat media {sha256}: {exc}") from exc
    if on_disk_bytes != size_bytes:
        raise MediaStorageError(
            f"media {sha256} is {on_disk_bytes} bytes on disk, {size_bytes} expected"
        )

    etag = f'"{sha256}"'
    resp.set_header("ETag", etag)
    resp.set_header("Accept-Ranges", "bytes")

    if if_none_match_matches(req.get_header("If-None-Match"), etag):
        resp.status = falcon.HTTP_304
        resp.set_header("Cache-Control", CACHE_CONTROL)
        return

    resp.content_type = content_type
    selected: ByteRange | RangeOutcome = RangeOutcome.FULL
    # Range is defined for GET only (RFC 9110 §14.2); HEAD describes the full 200.
    if req.method == "GET" and if_range_allows(req.get_header("If-Range"), etag):
        selected = parse_range(req.get_header("Range"), size_bytes)

    if selected is RangeOutcome.UNSATISFIABLE:
        resp.status = falcon.HTTP_416
        resp.set_header("Content-Range", unsatisfied_content_range(size_bytes))
        message = f"the requested range is outside the file's {size_bytes} bytes"
        send(resp, error("range_not_satisfiable", message))
        return
    # Not on the 416 above: a cache must not keep an error for a year.
    resp.set_header("Cache-Control", CACHE_CONTROL)
    if isinstance(selected, ByteRange):
        resp.status = falcon.HTTP_206
        resp.set_header("Content-Range", content_range(selected, size_bytes))
        start, length_bytes = selected.start, selected.length_bytes
    else:
        resp.status = falcon.HTTP_200
        start, length_bytes = 0, size_bytes

    resp.content_length = length_bytes
    if req.method == "HEAD" or length_bytes == 0:
        return
    # A generator opens the file lazily, so a response that is never iterated
    # (dropped by the server) holds no file descriptor.
    resp.stream = _read_range(path, start, length_bytes)


def _read_range(path: Path, start: int, length_bytes: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        if start:
            f.seek(start, os.SEEK_SET)
        remaining = length_bytes
        while remaining > 0:
            chunk = f.read(min(STREAM_CHUNK_BYTES, remaining))
            if not chunk:
                # The file shrank under us: stop; the server sees a short body.
                return
            remaining -= len(chunk)
            yield chunk
