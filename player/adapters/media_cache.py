"""Content-addressed media cache on local disk.

Layout under ``root`` (normally ``data_dir/media``)::

    sha256/ab/abcdef...      committed, verified files (named by their sha256)
    partial/abcdef....part   downloads in progress (resumable)
    partial/*.tmp            copies in progress (``store_verified_copy``)

Invariants:
- A file appears under ``sha256/`` only by an atomic rename of a fully written,
  fsynced file whose size and hash were checked; the directory is fsynced
  after the rename, so after a power cut a committed file is either complete
  or absent. Nothing half-written is ever at a playable path.
- Names from outside never become paths: every public method validates the
  sha256 (64 lowercase hex) before building one.
- ``partial/`` is on the same filesystem as ``sha256/`` so the rename is atomic.

Not thread-safe for the same sha256: the download manager fetches a given
hash in one worker at a time (the fetcher enforces it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from pathlib import Path

from player.adapters.atomic_file import fsync_dir
from player.core.files import CacheEntry, CacheUsage
from player.errors import DownloadError, IntegrityError

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
HASH_CHUNK_BYTES = 1024 * 1024


def validate_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex characters, else raise ValueError."""
    if not isinstance(sha256, str) or _SHA256_RE.fullmatch(sha256) is None:
        raise ValueError(f"invalid sha256 (want 64 lowercase hex characters): {sha256!r:.80}")
    return sha256


def hash_file(path: Path, chunk_bytes: int = HASH_CHUNK_BYTES) -> tuple[str, int]:
    """(hex sha256, size in bytes) of a file, read in fixed-size chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class MediaCache:
    """The verified media files, addressed by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files_dir = root / "sha256"
        self._partial_dir = root / "partial"

    def ensure_dirs(self) -> None:
        """Create the cache directories (idempotent)."""
        self._files_dir.mkdir(parents=True, exist_ok=True)
        self._partial_dir.mkdir(parents=True, exist_ok=True)

    # -- paths ---------------------------------------------------------------

    def path_for(self, sha256: str) -> Path:
        """Where the committed file for ``sha256`` lives (it may not exist)."""
        validate_sha256(sha256)
        return self._files_dir / sha256[:2] / sha256

    def part_path(self, sha256: str) -> Path:
        """The resumable partial download for ``sha256`` (it may not exist)."""
        validate_sha256(sha256)
        return self._partial_dir / f"{sha256}.part"

    # -- queries -------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def verify(self, sha256: str) -> bool:
        """Re-hash the committed file; False when missing or corrupt."""
        path = self.path_for(sha256)
        try:
            actual, _size = hash_file(path)
        except FileNotFoundError:
            return False
        return actual == sha256

    def list_files(self) -> list[CacheEntry]:
        """Every committed file, sorted by sha256. Foreign files are ignored."""
        entries: list[CacheEntry] = []
        if not self._files_dir.is_dir():
            return entries
        for shard in self._files_dir.iterdir():
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for path in shard.iterdir():
                name = path.name
                if _SHA256_RE.fullmatch(name) is None or name[:2] != shard.name:
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:  # removed concurrently
                    continue
                entries.append(CacheEntry(name, st.st_size, st.st_mtime))
        entries.sort(key=lambda e: e.sha256)
        return entries

    def usage(self) -> CacheUsage:
        files = self.list_files()
        return CacheUsage(len(files), sum(e.size_bytes for e in files))

    def disk_free_bytes(self) -> int:
        """Bytes available to this (unprivileged) process on the cache's filesystem."""
        target = self.root if self.root.exists() else self.root.parent
        st = os.statvfs(target)
        return st.f_bavail * st.f_frsize

    # -- changes -------------------------------------------------------------

    def commit_part(self, sha256: str) -> Path:
        """Atomically move the (already verified) ``.part`` into the cache.

        fsyncs the file, renames it, fsyncs the target directory. The caller
        must have checked size and hash: this method does not re-hash.
        """
        part = self.part_path(sha256)
        return self._commit(part, sha256)

    def store_verified_copy(self, src: Path, sha256: str, size_bytes: int) -> Path:
        """Copy ``src`` into the cache, hashing on the way; atomic.

        Raises IntegrityError (nothing stored) on a size or hash mismatch and
        DownloadError(retryable=False) when ``src`` cannot be read.
        """
        validate_sha256(sha256)
        if size_bytes < 0:
            raise ValueError(f"size_bytes must be >= 0, got {size_bytes}")
        if self.has(sha256):
            return self.path_for(sha256)
        self.ensure_dirs()
        tmp = self._partial_dir / f"{sha256}.{os.getpid()}.{time.monotonic_ns()}.tmp"
        digest = hashlib.sha256()
        copied = 0
        try:
            try:
                src_file = src.open("rb")
            except OSError as exc:
                raise DownloadError(f"cannot read {src}: {exc}", sha256, retryable=False) from exc
            with src_file, tmp.open("wb") as out:
                while chunk := src_file.read(HASH_CHUNK_BYTES):
                    copied += len(chunk)
                    if copied > size_bytes:
                        raise IntegrityError(
                            f"{src} is larger than the expected {size_bytes} bytes",
                            sha256,
                            retryable=False,
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if copied != size_bytes:
                raise IntegrityError(
                    f"{src} has {copied} bytes, expected {size_bytes}", sha256, retryable=False
                )
            if digest.hexdigest() != sha256:
                raise IntegrityError(
                    f"{src} has sha256 {digest.hexdigest()}", sha256, retryable=False
                )
            return self._commit(tmp, sha256)
        finally:
            tmp.unlink(missing_ok=True)

    def remove(self, sha256: str) -> bool:
        """Delete the committed file and any partial download; True if a file was removed."""
        path = self.path_for(sha256)
        self.part_path(sha256).unlink(missing_ok=True)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        with contextlib.suppress(FileNotFoundError):
            fsync_dir(path.parent)
        return True

    def discard_part(self, sha256: str) -> None:
        self.part_path(sha256).unlink(missing_ok=True)

    def stale_parts(self, older_than_s: float, now_s: float | None = None) -> list[Path]:
        """Delete partial files untouched for ``older_than_s``; return what was deleted.

        ``now_s`` is epoch seconds (file mtimes are wall clock); default now.
        """
        if older_than_s < 0:
            raise ValueError(f"older_than_s must be >= 0, got {older_than_s}")
        if not self._partial_dir.is_dir():
            return []
        now = time.time() if now_s is None else now_s
        removed: list[Path] = []
        for path in sorted(self._partial_dir.iterdir()):
            if not path.is_file() or path.suffix not in (".part", ".tmp"):
                continue
            try:
                if now - path.stat().st_mtime >= older_than_s:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                continue
        return removed

    def _commit(self, src: Path, sha256: str) -> Path:
        target = self.path_for(sha256)
        if not target.parent.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(self._files_dir)  # a new shard directory must survive a power cut too
        with src.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(src, target)
        fsync_dir(target.parent)
        return target


__all__ = [
    "HASH_CHUNK_BYTES",
    "CacheEntry",  # only until doctor imports it from player.core.files
    "MediaCache",
    "hash_file",
    "validate_sha256",
]
