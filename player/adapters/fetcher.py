"""Downloads one media file into the MediaCache: streamed, hashed, resumable, verified.

Invariants:
- Memory is bounded: the body is read in ``chunk_bytes`` pieces, written to the
  ``.part`` file and fed to sha256 as it arrives; nothing holds the whole file.
- Resume: an existing ``.part`` is hashed first, then requested with
  ``Range: bytes=N-`` and ``If-Range: "<sha256>"`` (the API's ETag). A 206 must
  start at N; a 200 means the server sent the whole file, so we start over.
- Only a file whose size and sha256 match reaches the cache (fsync + atomic
  rename). A mismatch deletes the partial file and raises IntegrityError.
- Network errors and cancellation raise DownloadError(retryable=True) and keep
  the partial file for the next attempt.
- One download per sha256 at a time in a process (a second one is refused).
- Only from allowed origins: with a ``ControlApiClient``, a URL off the API's
  origin and ``[api] media_origins`` is refused before any request
  (``player.core.downloads.media_url_problem``), and redirects are never
  followed, so none can lead elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from player.adapters.http_api import ControlApiClient, parse_retry_after
from player.adapters.media_cache import MediaCache, validate_sha256
from player.core.downloads import FetchResult
from player.errors import AuthError, DownloadError, IntegrityError

log = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 256 * 1024
ProgressFn = Callable[[int, int], None]
"""Called with (bytes in the file so far, expected total bytes) after each chunk."""

_CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class _Job:
    url: str
    auth_headers: dict[str, str]
    sha256: str
    size_bytes: int
    on_progress: ProgressFn | None
    cancel: threading.Event | None


class _RestartError(Exception):
    """The server's answer does not fit our partial file: start from byte 0."""


class Fetcher:
    """Fetches media files over HTTP into a ``MediaCache``.

    ``client`` is a ``ControlApiClient`` (relative URLs resolved on the API base,
    bearer token sent only to the API's origin) or a plain ``httpx.Client``.
    Thread-safe: download workers may share one Fetcher.
    """

    def __init__(
        self,
        client: ControlApiClient | httpx.Client,
        cache: MediaCache,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be > 0")
        self._api = client if isinstance(client, ControlApiClient) else None
        self._http = client.http if isinstance(client, ControlApiClient) else client
        self.cache = cache
        self.chunk_bytes = chunk_bytes
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()

    def fetch(
        self,
        url: str,
        sha256: str,
        size_bytes: int,
        on_progress: ProgressFn | None = None,
        *,
        cancel: threading.Event | None = None,
    ) -> FetchResult:
        """Download ``url`` into the cache as ``sha256`` (``size_bytes`` long).

        Raises IntegrityError (nothing kept), DownloadError (``retryable`` says
        whether to try again later; the partial file is kept when it is),
        AuthError on 401/403, ValueError on a bad sha256/size/url.
        """
        validate_sha256(sha256)
        if size_bytes < 0:
            raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
        if self.cache.has(sha256):
            return FetchResult(sha256, self.cache.path_for(sha256), size_bytes, 0, False, True)
        absolute = self._api.media_url(url) if self._api is not None else url
        problem = self._api.media_url_problem(absolute) if self._api is not None else None
        if problem is not None:
            raise DownloadError(f"not fetched: {absolute:.200}: {problem}", sha256, retryable=False)
        headers = self._api.auth_headers_for(absolute) if self._api is not None else {}
        job = _Job(absolute, headers, sha256, size_bytes, on_progress, cancel)
        with self._claim(sha256):
            self.cache.ensure_dirs()
            try:
                return self._fetch_once(job)
            except _RestartError as restart:
                log.info("%s: %s; downloading from the start", sha256[:12], restart)
                self.cache.discard_part(sha256)
                try:
                    return self._fetch_once(job)
                except _RestartError as again:
                    self.cache.discard_part(sha256)
                    raise DownloadError(str(again), sha256, retryable=True) from again

    @contextmanager
    def _claim(self, sha256: str) -> Iterator[None]:
        with self._lock:
            if sha256 in self._in_flight:
                raise DownloadError("already being downloaded", sha256, retryable=True)
            self._in_flight.add(sha256)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight.discard(sha256)

    def _fetch_once(self, job: _Job) -> FetchResult:
        sha256, size_bytes, cancel, on_progress = (
            job.sha256,
            job.size_bytes,
            job.cancel,
            job.on_progress,
        )
        part = self.cache.part_path(sha256)
        offset, digest = self._hash_existing_part(part, size_bytes)
        if offset == size_bytes and offset > 0:
            # The previous attempt got every byte but died before the rename.
            return self._finish(job, digest, offset, transferred=0, resumed=True)

        headers = {"Accept-Encoding": "identity", **job.auth_headers}
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = f'"{sha256}"'
        transferred = 0
        resumed = False
        try:
            # Never follow a redirect: it could leave the allowed origins.
            with self._http.stream(
                "GET", job.url, headers=headers, follow_redirects=False
            ) as response:
                status = response.status_code
                if status == 206 and offset > 0:
                    self._check_content_range(response, offset, size_bytes)
                    resumed = True
                elif status == 200:
                    if offset > 0:  # Range ignored or If-Range mismatch: full body follows
                        offset = 0
                        digest = hashlib.sha256()
                elif status == 416 and offset > 0:
                    raise _RestartError("server refused our range (416)")
                else:
                    self._raise_for_status(response, sha256)
                self._check_length(response, offset, size_bytes, sha256)
                with part.open("r+b" if offset > 0 else "wb") as out:
                    out.seek(offset)
                    out.truncate()
                    written = offset
                    if cancel is not None and cancel.is_set():
                        raise DownloadError("cancelled", sha256, retryable=True)
                    for chunk in response.iter_bytes(self.chunk_bytes):
                        if cancel is not None and cancel.is_set():
                            raise DownloadError("cancelled", sha256, retryable=True)
                        transferred += len(chunk)
                        written += len(chunk)
                        if written > size_bytes:
                            out.close()
                            self.cache.discard_part(sha256)
                            raise IntegrityError(
                                f"server sent more than the expected {size_bytes} bytes",
                                sha256,
                            )
                        out.write(chunk)
                        digest.update(chunk)
                        if on_progress is not None:
                            on_progress(written, size_bytes)
        except httpx.HTTPError as exc:
            # Whatever was written stays in the .part file for a resume.
            raise DownloadError(
                f"network error after {transferred} bytes: {type(exc).__name__}: {exc}",
                sha256,
                retryable=True,
            ) from exc
        return self._finish(job, digest, written, transferred=transferred, resumed=resumed)

    def _finish(
        self, job: _Job, digest: hashlib._Hash, written: int, *, transferred: int, resumed: bool
    ) -> FetchResult:
        sha256, size_bytes = job.sha256, job.size_bytes
        if written != size_bytes:
            self.cache.discard_part(sha256)
            raise IntegrityError(f"got {written} bytes, expected {size_bytes}", sha256)
        actual = digest.hexdigest()
        if actual != sha256:
            self.cache.discard_part(sha256)
            raise IntegrityError(f"content has sha256 {actual}", sha256)
        path = self.cache.commit_part(sha256)
        return FetchResult(sha256, path, size_bytes, transferred, resumed, False)

    def _hash_existing_part(self, part: Path, size_bytes: int) -> tuple[int, hashlib._Hash]:
        """Length and running hash of a partial file; a too-long one is deleted."""
        digest = hashlib.sha256()
        offset = 0
        try:
            with part.open("rb") as f:
                while chunk := f.read(self.chunk_bytes):
                    offset += len(chunk)
                    if offset > size_bytes:
                        break
                    digest.update(chunk)
        except FileNotFoundError:
            return 0, digest
        if offset > size_bytes:  # not ours, or the expected size changed
            part.unlink(missing_ok=True)
            return 0, hashlib.sha256()
        return offset, digest

    @staticmethod
    def _check_content_range(response: httpx.Response, offset: int, size_bytes: int) -> None:
        match = _CONTENT_RANGE_RE.fullmatch(response.headers.get("content-range", "").strip())
        if match is None:
            raise _RestartError("206 without a usable Content-Range")
        start, _end, total = match.groups()
        if int(start) != offset:
            raise _RestartError(f"206 starts at byte {start}, we asked for {offset}")
        if total != "*" and int(total) != size_bytes:
            raise _RestartError(f"server's file has {total} bytes, expected {size_bytes}")

    def _check_length(
        self, response: httpx.Response, offset: int, size_bytes: int, sha256: str
    ) -> None:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and offset + int(declared) != size_bytes:
            self.cache.discard_part(sha256)
            raise IntegrityError(
                f"server announces {offset + int(declared)} bytes, expected {size_bytes}",
                sha256,
            )

    @staticmethod
    def _raise_for_status(response: httpx.Response, sha256: str) -> None:
        status = response.status_code
        if status in (401, 403):
            raise AuthError(f"media {sha256[:12]}: HTTP {status}", status=status)
        if status in (408, 429) or status >= 500:
            retry_after_s = parse_retry_after(response.headers.get("retry-after"))
            raise DownloadError(
                f"HTTP {status}", sha256, retryable=True, retry_after_s=retry_after_s
            )
        if response.is_redirect:
            location = response.headers.get("location", "")
            raise DownloadError(
                f"HTTP {status} redirect to {location!r:.200} not followed: the manifest's "
                "url must serve the file (on the API's origin or an [api] media_origins entry)",
                sha256,
                retryable=False,
            )
        raise DownloadError(f"HTTP {status}", sha256, retryable=False)
