"""Offline provisioning: ``lomuz-player import DIR``.

A bundle is ``DIR/manifest.json`` (a full manifest, PROTOCOL.md) and
``DIR/media/<sha256>`` files. Order matters for "a bad bundle changes nothing":

1. decode the manifest with ``player.wire.decode_manifest``, the validation
   ``sync`` uses too (every field bounded; it must be full);
2. check every asset's file (size, then sha256) without touching anything;
   a file already committed in the cache may be absent from the bundle;
3. copy the files into the cache atomically (``MediaCache.store_verified_copy``:
   temp name, fsync, rename) and mark them verified;
4. apply the manifest in one store transaction.

A failure in 1-2 changes nothing. A failure in 3 (the disk, or a file swapped
under us) can only leave extra verified files in the cache, which are
unreferenced and evicted later; the manifest is not applied.

Only regular files inside ``DIR`` are read (``import`` often runs as root on a
bundle from a USB stick): ``manifest.json``, ``media`` and ``media/<sha256>``
must not be symbolic links, FIFOs, devices, sockets or directories. Each is
checked with ``lstat``, opened relative to its directory's descriptor with
``O_NOFOLLOW | O_NONBLOCK`` (a FIFO swapped in cannot block the open) and the
descriptor's ``fstat`` must be the same regular file. Reads are bounded: the
manifest by ``MAX_MANIFEST_BYTES``, a media file by its declared size + 1. An
error names the bundle file and the problem, never the size or hash of
anything it pointed to.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from player.adapters.media_cache import HASH_CHUNK_BYTES, MediaCache
from player.core.model import Manifest
from player.errors import BundleError, DownloadError, IntegrityError, ManifestError
from player.wire import decode_manifest

MANIFEST_NAME = "manifest.json"
MEDIA_DIR_NAME = "media"
# The bound sync accepts (http_api.DEFAULT_MAX_MANIFEST_BYTES): a bundle is a
# manifest the API could have sent.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

FileId = tuple[int, int]  # (st_dev, st_ino) of a checked file


class BundleCatalogue(Protocol):
    """The part of ``PlayerStore.catalogue`` an import needs."""

    def apply_manifest(self, manifest: Manifest, /) -> object: ...


class BundleFiles(Protocol):
    """The part of ``PlayerStore.files`` an import needs."""

    def mark_file_verified(self, sha256: str, size_bytes: int, at: datetime, /) -> None: ...


class BundleStore(Protocol):
    """The parts of ``PlayerStore`` an import needs."""

    @property
    def catalogue(self) -> BundleCatalogue: ...

    @property
    def files(self) -> BundleFiles: ...


@dataclass(frozen=True)
class ImportResult:
    cursor: str
    assets: int
    playlists: int
    schedules: int
    files_copied: int  # copied from the bundle into the cache
    files_present: int  # already in the cache, not copied again
    bytes_copied: int


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "a special file"


def _not_regular(mode: int) -> str:
    return f"is {_kind(mode)}; import reads only regular files inside the bundle"


def _open_dir(path: Path, shown: Path, *, dir_fd: int | None = None) -> int:
    """A directory descriptor; with ``dir_fd``, ``path`` is one name that must not be a link.

    FileNotFoundError when it does not exist; BundleError when it is something else.
    """
    try:
        if dir_fd is None:
            return os.open(path, _DIR_FLAGS)
        st = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            raise BundleError(f"is {_kind(st.st_mode)}, not a directory", str(shown))
        return os.open(path, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError:
        raise
    except NotADirectoryError as exc:
        raise BundleError("is not a directory", str(shown)) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BundleError("is a symbolic link, not a directory", str(shown)) from exc
        raise BundleError(f"cannot be opened: {exc.strerror or exc}", str(shown)) from exc


def _open_regular(name: str, dir_fd: int, shown: Path) -> tuple[int, os.stat_result]:
    """(descriptor, fstat) of the regular file ``name`` in ``dir_fd``; BundleError otherwise.

    FileNotFoundError when it does not exist (the caller knows whether that is fine).
    """
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise BundleError(f"cannot be read: {exc.strerror or exc}", str(shown)) from exc
    if not stat.S_ISREG(before.st_mode):
        raise BundleError(_not_regular(before.st_mode), str(shown))
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        raise BundleError("disappeared while being checked", str(shown)) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BundleError(_not_regular(stat.S_IFLNK), str(shown)) from exc
        raise BundleError(f"cannot be read: {exc.strerror or exc}", str(shown)) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise BundleError("was replaced while being checked", str(shown))
    return fd, st


def _read_at_most(fd: int, limit_bytes: int) -> Iterator[bytes]:
    """Chunks of ``fd`` until EOF or just past ``limit_bytes`` (never more than limit + 1)."""
    remaining = limit_bytes + 1
    while remaining > 0:
        chunk = os.read(fd, min(HASH_CHUNK_BYTES, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def read_bundle_manifest(bundle_dir: Path) -> Manifest:
    """Decode ``DIR/manifest.json``; BundleError unless it is a valid full manifest."""
    path = bundle_dir / MANIFEST_NAME
    try:
        dir_fd = _open_dir(bundle_dir, bundle_dir)
    except FileNotFoundError as exc:
        raise BundleError("is missing", str(bundle_dir)) from exc
    try:
        fd, _ = _open_regular(MANIFEST_NAME, dir_fd, path)
    except FileNotFoundError as exc:
        raise BundleError("is missing", str(path)) from exc
    finally:
        os.close(dir_fd)
    try:
        raw = b"".join(_read_at_most(fd, MAX_MANIFEST_BYTES))
    except OSError as exc:
        raise BundleError(f"cannot be read: {exc.strerror or exc}", str(path)) from exc
    finally:
        os.close(fd)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleError(f"is larger than the {MAX_MANIFEST_BYTES}-byte limit", str(path))
    try:
        manifest = decode_manifest(raw)
    except ManifestError as exc:
        raise BundleError(str(exc), str(path)) from exc
    if not manifest.full:
        raise BundleError('must be a full manifest ("full": true)', f"{path}: full")
    return manifest


def _check_file(fd: int, st: os.stat_result, sha256: str, size_bytes: int, shown: Path) -> None:
    """BundleError unless the open regular file has ``size_bytes`` bytes hashing to ``sha256``."""
    if st.st_size != size_bytes:
        raise BundleError(f"has {st.st_size} bytes, the manifest says {size_bytes}", str(shown))
    digest = hashlib.sha256()
    read = 0
    try:
        for chunk in _read_at_most(fd, size_bytes):
            read += len(chunk)
            digest.update(chunk)
    except OSError as exc:
        raise BundleError(f"cannot be read: {exc.strerror or exc}", str(shown)) from exc
    if read != size_bytes:
        raise BundleError(
            f"changed size while being read (the manifest says {size_bytes})", str(shown)
        )
    actual_sha = digest.hexdigest()
    if actual_sha != sha256:
        raise BundleError(f"content has sha256 {actual_sha}, not its name", str(shown))


def check_bundle_files(
    bundle_dir: Path, manifest: Manifest, cache: MediaCache
) -> tuple[dict[str, int], dict[str, int], dict[str, FileId]]:
    """Verify every asset's file.

    Returns ({sha256: size} to copy, {sha256: size} in cache, {sha256: file id}
    of the checked files). Reads only. Raises BundleError naming the first bad file.
    """
    # decode_manifest (the one validation path, shared with sync) already refused
    # two assets of one sha256 with different sizes, and every out-of-range field.
    sizes = {asset.sha256: asset.size_bytes for asset in manifest.assets}
    to_copy: dict[str, int] = {}
    present: dict[str, int] = {}
    ids: dict[str, FileId] = {}
    media = bundle_dir / MEDIA_DIR_NAME
    if not sizes:
        return to_copy, present, ids
    with _media_dir(bundle_dir, media) as media_fd:
        for sha256, size_bytes in sizes.items():
            shown = media / sha256
            try:
                if media_fd is None:
                    raise FileNotFoundError(shown)
                fd, st = _open_regular(sha256, media_fd, shown)
            except FileNotFoundError as exc:
                if cache.has(sha256):
                    present[sha256] = size_bytes
                    continue
                raise BundleError("is missing (listed in the manifest)", str(shown)) from exc
            try:
                _check_file(fd, st, sha256, size_bytes, shown)
            finally:
                os.close(fd)
            to_copy[sha256] = size_bytes
            ids[sha256] = (st.st_dev, st.st_ino)
    return to_copy, present, ids


@contextmanager
def _media_dir(bundle_dir: Path, shown: Path) -> Iterator[int | None]:
    """``DIR/media``'s descriptor, None when there is none (every file may be cached)."""
    try:
        bundle_fd = _open_dir(bundle_dir, bundle_dir)
    except FileNotFoundError as exc:
        raise BundleError("is missing", str(bundle_dir)) from exc
    try:
        media_fd: int | None = _open_dir(Path(MEDIA_DIR_NAME), shown, dir_fd=bundle_fd)
    except FileNotFoundError:
        media_fd = None
    finally:
        os.close(bundle_fd)
    try:
        yield media_fd
    finally:
        if media_fd is not None:
            os.close(media_fd)


@dataclass(frozen=True)
class BundlePlan:
    """A bundle whose manifest decoded and whose files all checked out."""

    bundle_dir: Path
    manifest: Manifest
    to_copy: dict[str, int]  # sha256 -> size_bytes, copied from DIR/media
    present: dict[str, int]  # sha256 -> size_bytes, already in the cache
    checked: dict[str, FileId] = field(default_factory=dict)  # sha256 -> the file checked


def prepare_bundle(bundle_dir: Path, cache: MediaCache) -> BundlePlan:
    """Steps 1-2: decode and verify; reads only. Raises BundleError."""
    manifest = read_bundle_manifest(bundle_dir)
    to_copy, present, checked = check_bundle_files(bundle_dir, manifest, cache)
    return BundlePlan(bundle_dir, manifest, to_copy, present, checked)


def import_bundle(
    bundle_dir: Path, store: BundleStore, cache: MediaCache, *, at: datetime | None = None
) -> ImportResult:
    """Import an offline bundle; see the module docstring for the guarantees.

    ``at`` is when the files count as verified (default now, UTC).
    """
    return apply_bundle(prepare_bundle(bundle_dir, cache), store, cache, at=at)


def apply_bundle(
    plan: BundlePlan, store: BundleStore, cache: MediaCache, *, at: datetime | None = None
) -> ImportResult:
    """Steps 3-4 for a prepared bundle: copy into the cache, mark verified, apply."""
    verified_at = at if at is not None else datetime.now(UTC)
    manifest, to_copy, present = plan.manifest, plan.to_copy, plan.present
    media = plan.bundle_dir / MEDIA_DIR_NAME
    if to_copy:
        with _media_dir(plan.bundle_dir, media) as media_fd:
            for sha256, size_bytes in to_copy.items():
                _copy_checked(
                    media_fd,
                    media / sha256,
                    checked=plan.checked.get(sha256),
                    sha256=sha256,
                    size_bytes=size_bytes,
                    cache=cache,
                )
    for sha256, size_bytes in {**present, **to_copy}.items():
        store.files.mark_file_verified(sha256, size_bytes, verified_at)
    try:
        store.catalogue.apply_manifest(manifest)
    except ManifestError as exc:
        raise BundleError(str(exc), str(plan.bundle_dir / MANIFEST_NAME)) from exc
    return ImportResult(
        cursor=manifest.cursor,
        assets=len(manifest.assets),
        playlists=len(manifest.playlists),
        schedules=len(manifest.schedules),
        files_copied=len(to_copy),
        files_present=len(present),
        bytes_copied=sum(to_copy.values()),
    )


def _copy_checked(
    media_fd: int | None,
    shown: Path,
    *,
    checked: FileId | None,
    sha256: str,
    size_bytes: int,
    cache: MediaCache,
) -> None:
    """Copy the file step 2 checked into the cache; BundleError if it changed since."""
    try:
        if media_fd is None:
            raise FileNotFoundError(shown)
        fd, st = _open_regular(sha256, media_fd, shown)
    except FileNotFoundError as exc:
        raise BundleError("disappeared before it was copied", str(shown)) from exc
    try:
        if checked is not None and (st.st_dev, st.st_ino) != checked:
            raise BundleError("was replaced after it was checked", str(shown))
        # The cache copies from a path: this descriptor's own /proc entry reopens
        # exactly the regular file checked above, whatever happens to the name.
        cache.store_verified_copy(Path(f"/proc/self/fd/{fd}"), sha256, size_bytes)
    except IntegrityError as exc:
        raise BundleError("changed after it was checked", str(shown)) from exc
    except DownloadError as exc:
        raise BundleError(f"could not be copied into the cache: {exc}", str(shown)) from exc
    except OSError as exc:
        raise BundleError(
            f"could not be copied into the cache: {exc.strerror or exc}", str(shown)
        ) from exc
    finally:
        os.close(fd)
