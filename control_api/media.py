"""Media storage for the control API: content-addressed files behind an interface.

An upload streams to a temp file under ``<root>/tmp`` in fixed chunks while it is
hashed (never whole in memory), then ``commit`` fsyncs it and renames it
atomically to ``<root>/sha256/<first 2 hex>/<sha256>``. Nothing half-written is
ever visible under ``sha256/``. Names from outside never become paths:
``path_for`` accepts only 64 lowercase hex characters.

Errors (under ``control_api.errors.ControlApiError``; the API's one error
mapping turns them into HTTP answers)::

    MediaError
    ├── MediaTooLarge       413: body (or its Content-Length) exceeds the limit
    ├── MediaTruncated      400: fewer bytes arrived than Content-Length announced
    ├── InvalidMediaName    404: not a sha256 (ValueError too)
    ├── MediaNotFound       404/500: no stored file for that hash
    └── MediaStorageError   500/507: the disk failed (ENOSPC, EIO...)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from control_api.errors import ControlApiError

__all__ = [
    "CHUNK_SIZE_BYTES",
    "ByteSource",
    "InvalidMediaName",
    "LocalMediaStore",
    "MediaError",
    "MediaNotFound",
    "MediaStorageError",
    "MediaStore",
    "MediaTooLarge",
    "MediaTruncated",
    "ReceivedMedia",
    "is_sha256",
]

log = logging.getLogger(__name__)

CHUNK_SIZE_BYTES = 64 * 1024
PROBE_TIMEOUT_S = 10.0
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX = "upload-"
_TEMP_SUFFIX = ".part"


class MediaError(ControlApiError):
    """Base of every media storage error."""


class MediaTooLarge(MediaError):  # noqa: N818 (names agreed with the API handlers)
    """The body is larger than ``limit_bytes`` (413)."""

    def __init__(self, limit_bytes: int, received_bytes: int | None = None) -> None:
        self.limit_bytes = limit_bytes
        self.received_bytes = received_bytes
        super().__init__(f"media is larger than the limit of {limit_bytes} bytes")


class MediaTruncated(MediaError):  # noqa: N818 (names agreed with the API handlers)
    """Fewer bytes arrived than ``Content-Length`` announced (400)."""

    def __init__(self, expected_bytes: int, received_bytes: int) -> None:
        self.expected_bytes = expected_bytes
        self.received_bytes = received_bytes
        super().__init__(
            f"media body truncated: expected {expected_bytes} bytes, got {received_bytes}"
        )


class InvalidMediaName(MediaError, ValueError):  # noqa: N818 (names agreed with the API handlers)
    """A media name that is not 64 lowercase hex characters."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"not a sha256 (64 lowercase hex characters): {name[:80]!r}")


class MediaNotFound(MediaError):  # noqa: N818 (names agreed with the API handlers)
    """No stored file for this sha256."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256
        super().__init__(f"no stored media for sha256 {sha256}")


class MediaStorageError(MediaError):
    """The underlying storage failed (disk full, I/O error)."""


def is_sha256(name: str) -> bool:
    """True when ``name`` is exactly 64 lowercase hex characters."""
    return _SHA256_RE.fullmatch(name) is not None


class ByteSource(Protocol):
    """Anything with ``read(n)``: a WSGI input, Falcon's ``req.bounded_stream``, a file."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class ReceivedMedia:
    """An upload received and hashed but not yet committed."""

    sha256: str
    size_bytes: int
    temp_path: Path


class MediaStore(Protocol):
    """Where uploaded media live. Implementations must be safe across threads and processes."""

    def receive(
        self, stream: ByteSource, limit_bytes: int, content_length: int | None
    ) -> ReceivedMedia:
        """Stream ``stream`` to a temp file while hashing; see ``LocalMediaStore.receive``."""
        ...

    def commit(self, received: ReceivedMedia) -> None:
        """Make a received file durable and visible under its sha256 (idempotent)."""
        ...

    def discard(self, received: ReceivedMedia) -> None:
        """Drop a received file that will not be committed."""
        ...

    def path_for(self, sha256: str) -> Path:
        """The local path of a stored file; raises ``InvalidMediaName`` for a bad name."""
        ...

    def exists(self, sha256: str) -> bool:
        """True when a file with this hash is stored."""
        ...

    def probe_duration_ms(self, path: Path) -> int | None:
        """The media's duration in ms, or None when unknown (or no prober installed)."""
        ...

    def cleanup_stale_temp(self, older_than_s: float) -> int:
        """Delete temp files older than ``older_than_s``; returns how many."""
        ...


class LocalMediaStore:
    """A media store in a local directory (one filesystem, so renames are atomic)."""

    def __init__(
        self,
        root: Path,
        chunk_size_bytes: int = CHUNK_SIZE_BYTES,
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        if chunk_size_bytes <= 0:
            raise ValueError(f"chunk_size_bytes must be positive, got {chunk_size_bytes}")
        self.root = Path(root)
        self.chunk_size_bytes = chunk_size_bytes
        self.probe_timeout_s = probe_timeout_s

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def receive(
        self, stream: ByteSource, limit_bytes: int, content_length: int | None
    ) -> ReceivedMedia:
        """Stream the body to a temp file in fixed chunks while computing its sha256.

        Reads at most ``content_length`` bytes when given (a WSGI input must not be
        read past it). Raises ``MediaTooLarge`` before reading anything when
        ``content_length`` exceeds ``limit_bytes``, or as soon as more than
        ``limit_bytes`` arrive; ``MediaTruncated`` when the stream ends early. The
        temp file is removed on any error.
        """
        if limit_bytes < 0:
            raise ValueError(f"limit_bytes must be >= 0, got {limit_bytes}")
        if content_length is not None:
            if content_length < 0:
                raise ValueError(f"content_length must be >= 0, got {content_length}")
            if content_length > limit_bytes:
                raise MediaTooLarge(limit_bytes, content_length)
        try:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=self.tmp_dir)
        except OSError as exc:
            raise MediaStorageError(f"cannot create a temp file in {self.tmp_dir}: {exc}") from exc
        temp_path = Path(name)
        try:
            digest, size_bytes = self._copy(fd, stream, limit_bytes, content_length)
        except BaseException:
            with contextlib.suppress(OSError):
                temp_path.unlink()
            raise
        return ReceivedMedia(sha256=digest, size_bytes=size_bytes, temp_path=temp_path)

    def _copy(
        self, fd: int, stream: ByteSource, limit_bytes: int, content_length: int | None
    ) -> tuple[str, int]:
        hasher = hashlib.sha256()
        size_bytes = 0
        # Without a Content-Length read one byte past the limit to tell "exactly
        # the limit" from "too large".
        budget = content_length if content_length is not None else limit_bytes + 1
        with os.fdopen(fd, "wb") as out:
            while size_bytes < budget:
                want = min(self.chunk_size_bytes, budget - size_bytes)
                try:
                    chunk = stream.read(want)
                except OSError as exc:
                    # The client went away mid-body.
                    raise MediaTruncated(
                        content_length if content_length is not None else size_bytes + 1,
                        size_bytes,
                    ) from exc
                if not chunk:
                    break
                size_bytes += len(chunk)
                if size_bytes > limit_bytes:
                    raise MediaTooLarge(limit_bytes, size_bytes)
                hasher.update(chunk)
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise MediaStorageError(f"cannot write upload: {exc}") from exc
        if content_length is not None and size_bytes < content_length:
            raise MediaTruncated(content_length, size_bytes)
        return hasher.hexdigest(), size_bytes

    def commit(self, received: ReceivedMedia) -> None:
        """fsync the temp file, rename it to its final path, fsync the directory.

        Idempotent: when the final file already exists (same bytes, by
        construction) the temp file is simply removed. Concurrent commits of the
        same content are safe: each rename is atomic and carries the same bytes.
        """
        final = self.path_for(received.sha256)
        if final.is_file():
            self.discard(received)
            return
        try:
            with open(received.temp_path, "rb") as f:
                os.fsync(f.fileno())
            os.chmod(received.temp_path, 0o644)
            created = not final.parent.is_dir()
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(received.temp_path, final)
            _fsync_dir(final.parent)
            if created:
                _fsync_dir(final.parent.parent)
        except FileNotFoundError as exc:
            if final.is_file():  # a concurrent commit of the same temp path won
                return
            raise MediaStorageError(f"received file vanished: {received.temp_path}") from exc
        except OSError as exc:
            raise MediaStorageError(f"cannot commit {received.sha256}: {exc}") from exc

    def discard(self, received: ReceivedMedia) -> None:
        """Remove the temp file of an upload (no error if already gone)."""
        with contextlib.suppress(FileNotFoundError):
            received.temp_path.unlink()

    def path_for(self, sha256: str) -> Path:
        """``root/sha256/<first 2 hex>/<sha256>``; raises ``InvalidMediaName`` first."""
        if not is_sha256(sha256):
            raise InvalidMediaName(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        """True when the file is stored; False for names that are not a sha256."""
        if not is_sha256(sha256):
            return False
        return self.path_for(sha256).is_file()

    def probe_duration_ms(self, path: Path) -> int | None:
        """Duration via ffprobe when installed, bounded by ``probe_timeout_s``; else None."""
        ffprobe = shutil.which("ffprobe")
        if ffprobe is None:
            return None
        cmd = [
            ffprobe, "-v", "error", "-show_entries", "format=duration",
            "-of", "default=noprint_wrappers=1:nokey=1", str(path.absolute()),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                timeout=self.probe_timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("ffprobe failed on %s: %s", path, exc)
            return None
        if done.returncode != 0:
            return None
        text = done.stdout.decode("ascii", "replace").strip().splitlines()
        try:
            seconds = float(text[0]) if text else float("nan")
        except ValueError:
            return None
        # Still images report no duration (N/A) or 0.04 s: not a duration.
        if not seconds > 0.05 or seconds == float("inf"):
            return None
        return round(seconds * 1000)

    def cleanup_stale_temp(self, older_than_s: float) -> int:
        """Remove upload temp files whose mtime is older than ``older_than_s`` seconds."""
        cutoff = time.time() - older_than_s
        removed = 0
        try:
            entries = list(os.scandir(self.tmp_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not (entry.name.startswith(_TEMP_PREFIX) and entry.name.endswith(_TEMP_SUFFIX)):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        if removed:
            log.info("removed %d stale upload temp files from %s", removed, self.tmp_dir)
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
