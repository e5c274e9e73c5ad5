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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from player.adapters.media_cache import HASH_CHUNK_BYTES, MediaCache
from player.core.model import Manifest
from player.errors import BundleError, DownloadError, ManifestError
from player.wire import decode_manifest

MANIFEST_NAME = "manifest.json"
MEDIA_DIR_NAME = "media"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


class BundleStore(Protocol):
    """The part of ``PlayerStore`` an import needs."""

    def apply_manifest(self, manifest: Manifest, /) -> object: ...

    def mark_file_verified(self, sha256: str, size_bytes: int, at: datetime, /) -> None: ...


@dataclass(frozen=True)
class ImportResult:
    cursor: str
    assets: int
    playlists: int
    schedules: int
    files_copied: int  # copied from the bundle into the cache
    files_present: int  # already in the cache, not copied again
    bytes_copied: int


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def read_bundle_manifest(bundle_dir: Path) -> Manifest:
    """Decode ``DIR/manifest.json``; BundleError unless it is a valid full manifest."""
    path = bundle_dir / MANIFEST_NAME
    if not bundle_dir.is_dir():
        raise BundleError("is not a directory", str(bundle_dir))
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise BundleError(f"is {size} bytes, more than {MAX_MANIFEST_BYTES}", str(path))
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise BundleError("is missing", str(path)) from exc
    except OSError as exc:
        raise BundleError(f"cannot be read: {exc.strerror or exc}", str(path)) from exc
    try:
        manifest = decode_manifest(raw)
    except ManifestError as exc:
        raise BundleError(str(exc), str(path)) from exc
    if not manifest.full:
        raise BundleError('must be a full manifest ("full": true)', f"{path}: full")
    return manifest


def check_bundle_files(
    bundle_dir: Path, manifest: Manifest, cache: MediaCache
) -> tuple[dict[str, int], dict[str, int]]:
    """Verify every asset's file; return ({sha256: size} to copy, {sha256: size} in cache).

    Reads only. Raises BundleError naming the first bad file.
    """
    # decode_manifest (the one validation path, shared with sync) already refused
    # two assets of one sha256 with different sizes, and every out-of-range field.
    sizes = {asset.sha256: asset.size_bytes for asset in manifest.assets}
    to_copy: dict[str, int] = {}
    present: dict[str, int] = {}
    media = bundle_dir / MEDIA_DIR_NAME
    for sha256, size_bytes in sizes.items():
        path = media / sha256
        if not path.exists() and cache.has(sha256):
            present[sha256] = size_bytes
            continue
        if not path.is_file():
            raise BundleError("is missing (listed in the manifest)", str(path))
        actual_size = path.stat().st_size
        if actual_size != size_bytes:
            raise BundleError(f"has {actual_size} bytes, the manifest says {size_bytes}", str(path))
        actual_sha = _hash_file(path)
        if actual_sha != sha256:
            raise BundleError(f"content has sha256 {actual_sha}, not its name", str(path))
        to_copy[sha256] = size_bytes
    return to_copy, present


@dataclass(frozen=True)
class BundlePlan:
    """A bundle whose manifest decoded and whose files all checked out."""

    bundle_dir: Path
    manifest: Manifest
    to_copy: dict[str, int]  # sha256 -> size_bytes, copied from DIR/media
    present: dict[str, int]  # sha256 -> size_bytes, already in the cache


def prepare_bundle(bundle_dir: Path, cache: MediaCache) -> BundlePlan:
    """Steps 1-2: decode and verify; reads only. Raises BundleError."""
    manifest = read_bundle_manifest(bundle_dir)
    to_copy, present = check_bundle_files(bundle_dir, manifest, cache)
    return BundlePlan(bundle_dir, manifest, to_copy, present)


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
    for sha256, size_bytes in to_copy.items():
        try:
            cache.store_verified_copy(media / sha256, sha256, size_bytes)
        except DownloadError as exc:  # IntegrityError included: the file changed under us
            raise BundleError(
                f"could not be copied into the cache: {exc}", str(media / sha256)
            ) from exc
        except OSError as exc:
            raise BundleError(
                f"could not be copied into the cache: {exc.strerror or exc}", str(media / sha256)
            ) from exc
    for sha256, size_bytes in {**present, **to_copy}.items():
        store.mark_file_verified(sha256, size_bytes, verified_at)
    try:
        store.apply_manifest(manifest)
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
