"""Media storage for the control API: content-addressed files behind an interface.

An upload streams to a temp file under ``<root>/tmp`` in fixed chunks while it is
hashed (never whole in memory), then ``commit`` fsyncs it and renames it
atomically to ``<root>/sha256/<first 2 hex>/<sha256>``. Nothing half-written is
ever visible under ``sha256/``. Names from outside never become paths:
``path_for`` accepts only 64 lowercase hex characters.

Before ``commit``, ``inspect`` decides what the received bytes are (the allow-list
of ``control_api.core.media_content``, confirmed by ffprobe). Files are shared by
every tenant with an asset of those bytes; who may ``remove`` one is the
caller's business (``control_api.resources.content`` explains the locking).

Errors (defined in ``control_api.errors``, under ``DomainError``; the API's one
error mapping, ``control_api.error_answers``, turns them into HTTP answers)::

    MediaError
    ├── MediaTooLarge       413: body (or its Content-Length) exceeds the limit
    ├── MediaTruncated      400: fewer bytes arrived than Content-Length announced
    ├── MediaRefused        415: the bytes are not an allowed format of the declared
    │                            type (``control_api.core.media_content``)
    ├── MediaCheckBusy      503: ffprobe did not finish in time (a busy server; retry)
    ├── InvalidMediaName    404: not a sha256 (ValueError too)
    ├── MediaNotFound       404/500: no stored file for that hash
    └── MediaStorageError   500/507: the disk failed (ENOSPC, EIO...)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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

from control_api.core import media_content as mc
from control_api.errors import (
    InvalidMediaName,
    MediaCheckBusy,
    MediaError,
    MediaNotFound,
    MediaRefused,
    MediaStorageError,
    MediaTooLarge,
    MediaTruncated,
)

__all__ = [
    "CHUNK_SIZE_BYTES",
    "ByteSource",
    "InvalidMediaName",
    "LocalMediaStore",
    "MediaCheckBusy",
    "MediaError",
    "MediaNotFound",
    "MediaRefused",
    "MediaStorageError",
    "MediaStore",
    "MediaTooLarge",
    "MediaTruncated",
    "ReceivedMedia",
    "Swept",
    "is_sha256",
]

log = logging.getLogger(__name__)

CHUNK_SIZE_BYTES = 64 * 1024
# A two-packet probe takes milliseconds; 10 s was once exceeded in CI on two
# loaded cores, and a valid file must not be called invalid for that.
PROBE_TIMEOUT_S = 30.0
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX = "upload-"
_TEMP_SUFFIX = ".part"


def is_sha256(name: str) -> bool:
    """True when ``name`` is exactly 64 lowercase hex characters."""
    return _SHA256_RE.fullmatch(name) is not None


class ByteSource(Protocol):
    """Anything with ``read(n)``: a WSGI input, Falcon's ``req.bounded_stream``, a file."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class Swept:
    """What a clean-up removed."""

    files: int = 0
    bytes_freed: int = 0


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

    def inspect(self, received: ReceivedMedia, media_type: str) -> int | None:
        """Raise ``MediaRefused`` unless the received bytes are an allowed format of
        ``media_type``; returns the duration in ms when known."""
        ...

    def remove(self, sha256: str) -> int:
        """Delete a stored file; returns the bytes freed (0 when it was not there)."""
        ...

    def stored(self) -> list[tuple[str, int]]:
        """(sha256, size in bytes) of every stored file."""
        ...

    def cleanup_stale_temp(self, older_than_s: float) -> Swept:
        """Delete temp files not written to for ``older_than_s``."""
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
        self._warned_no_ffprobe = False

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
            # Durable before ``commit``, which runs inside a database write
            # transaction: a long fsync there would hold every writer up.
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise MediaStorageError(f"cannot write upload: {exc}") from exc
        if content_length is not None and size_bytes < content_length:
            raise MediaTruncated(content_length, size_bytes)
        return hasher.hexdigest(), size_bytes

    def commit(self, received: ReceivedMedia) -> None:
        """Rename the (fsynced) temp file to its final path, fsync the directory.

        Idempotent: when the final file already exists (same bytes, by
        construction) the temp file is simply removed. Concurrent commits of the
        same content are safe: each rename is atomic and carries the same bytes.
        """
        final = self.path_for(received.sha256)
        if final.is_file():
            self.discard(received)
            return
        try:
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

    def inspect(self, received: ReceivedMedia, media_type: str) -> int | None:
        """The allow-list, then ffprobe (when installed) forced to the identified demuxer.

        Without ffprobe the leading bytes alone decide (logged once per store).
        """
        found = self._identify(received, media_type)
        ffprobe = shutil.which("ffprobe")
        if ffprobe is None:
            if not self._warned_no_ffprobe:
                self._warned_no_ffprobe = True
                log.warning(
                    "ffprobe not installed: uploads are checked by their leading"
                    " bytes only and get no duration (apt install ffmpeg)"
                )
            return None
        probe = self._ffprobe(ffprobe, received.temp_path, found)
        refusal = mc.check_probe(found, media_type, probe)
        if refusal is not None or probe is None:
            raise MediaRefused((refusal or mc.Refusal("unreadable")).message(media_type))
        return mc.probe_duration_ms(probe, media_type)

    def _identify(self, received: ReceivedMedia, media_type: str) -> mc.MediaFormat:
        try:
            with open(received.temp_path, "rb") as f:

                def read_at(offset: int, size: int) -> bytes:
                    f.seek(offset)
                    return f.read(size)

                found = mc.identify(read_at, received.size_bytes)
                if isinstance(found, mc.Refusal):
                    raise MediaRefused(found.message(media_type))
                refusal = mc.check_declared(found, media_type)
                if refusal is None and found.key == "mp4":
                    reference = mc.mp4_external_reference(read_at, received.size_bytes)
                    if reference is not None:
                        refusal = mc.Refusal(f"{found.label} with {reference}")
        except OSError as exc:
            raise MediaStorageError(f"cannot read upload {received.temp_path}: {exc}") from exc
        if refusal is not None:
            raise MediaRefused(refusal.message(media_type))
        return found

    def _ffprobe(self, ffprobe: str, path: Path, found: mc.MediaFormat) -> mc.Probe | None:
        """ffprobe's report, or None when it cannot read the file as ``found``."""
        # Forced demuxer and the file protocol only: ffprobe itself must never
        # follow a reference out of the file. Two packets decoded: it plays.
        cmd = [
            ffprobe, "-v", "error", "-hide_banner", "-protocol_whitelist", "file",
            "-f", found.demuxer, "-read_intervals", "%+#2",
            "-show_entries",
            "format=format_name,duration:stream=codec_type,codec_name"
            ":stream_disposition=attached_pic:frame=media_type",
            "-of", "json", "file:" + str(path.absolute()),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                timeout=self.probe_timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            log.warning("ffprobe took over %ss on %s: asked to retry", self.probe_timeout_s, path)
            raise MediaCheckBusy(
                f"the media check did not finish within {self.probe_timeout_s:g} s"
                " (the server is busy): send the upload again"
            ) from None
        except OSError as exc:
            raise MediaStorageError(f"cannot run ffprobe: {exc}") from exc
        if done.returncode != 0:
            return None
        try:
            return mc.parse_probe(json.loads(done.stdout))
        except ValueError:
            return None

    def remove(self, sha256: str) -> int:
        """Unlink the stored file; returns its size (0 when absent)."""
        path = self.path_for(sha256)
        try:
            size_bytes = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise MediaStorageError(f"cannot remove media {sha256}: {exc}") from exc
        log.info("removed media %s (%d bytes): no asset uses it", sha256, size_bytes)
        return size_bytes

    def stored(self) -> list[tuple[str, int]]:
        """Every ``sha256/<xx>/<sha256>`` file; other names are left alone."""
        out: list[tuple[str, int]] = []
        base = self.root / "sha256"
        try:
            shards = [e for e in os.scandir(base) if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return out
        for shard in shards:
            for entry in os.scandir(shard.path):
                if is_sha256(entry.name) and entry.name[:2] == shard.name:
                    with contextlib.suppress(FileNotFoundError):
                        if entry.is_file(follow_symlinks=False):
                            out.append((entry.name, entry.stat().st_size))
        return sorted(out)

    def cleanup_stale_temp(self, older_than_s: float) -> Swept:
        """Remove upload temp files whose mtime is older than ``older_than_s`` seconds.

        An upload in progress writes its temp file at every chunk, so a bound far
        above any pause of a live client never touches another worker's upload.
        """
        cutoff = time.time() - older_than_s
        removed = freed = 0
        try:
            entries = list(os.scandir(self.tmp_dir))
        except FileNotFoundError:
            return Swept()
        except OSError as exc:
            log.warning("cannot list upload temp files in %s: %s", self.tmp_dir, exc)
            return Swept()
        for entry in entries:
            if not (entry.name.startswith(_TEMP_PREFIX) and entry.name.endswith(_TEMP_SUFFIX)):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
                if entry.is_file(follow_symlinks=False) and stat.st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
                    freed += stat.st_size
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("cannot remove stale upload temp file %s: %s", entry.path, exc)
        if removed:
            log.info(
                "removed %d stale upload temp files (%d bytes) from %s",
                removed,
                freed,
                self.tmp_dir,
            )
        return Swept(removed, freed)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
