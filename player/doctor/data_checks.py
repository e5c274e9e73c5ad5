"""The player's own data: its database (read-only, through the store), cache and disk."""

from __future__ import annotations

import sqlite3

from player.doctor.model import COMMAND_TIMEOUT_S, Check, DoctorProbes
from player.settings import Settings

CACHE_SAMPLE_FILES = 5
CACHE_SAMPLE_BYTES = 200 * 1024 * 1024

_MOVE_ASIDE = "stop the player, move player.db aside, sync again"


def migration_heads() -> list[str]:
    """The alembic head revision(s) shipped with this player (the store knows, without alembic)."""
    from player.store.read_only import SCHEMA_HEAD

    return [SCHEMA_HEAD]


def check_database(settings: Settings) -> Check:
    # The store's read-only path: no file created (not even -wal/-shm), no migration.
    from player.store.read_only import connect_read_only, read_integrity

    path = settings.db_path
    if not path.is_file():
        return Check(
            "database",
            "fail",
            f"missing: {path}",
            "start the player (systemctl start lomuz-player) or import a bundle",
        )
    try:
        conn = connect_read_only(path, timeout_s=COMMAND_TIMEOUT_S)
    except sqlite3.Error as exc:
        return Check("database", "fail", f"cannot open: {exc}", "run doctor as the lomuz user")
    try:
        integrity = read_integrity(conn)
    except sqlite3.Error as exc:  # "file is not a database", I/O errors
        return Check("database", "fail", f"unreadable: {exc}", _MOVE_ASIDE)
    finally:
        conn.close()
    if integrity.quick_check != "ok":
        return Check("database", "fail", f"quick_check: {integrity.quick_check[:200]}", _MOVE_ASIDE)
    heads = set(migration_heads())
    if integrity.revisions != heads:
        shown = ",".join(sorted(integrity.revisions)) or "none"
        return Check(
            "database",
            "fail",
            f"migrations at {shown}, head is {','.join(sorted(heads))}",
            "restart the player: it migrates at start",
        )
    return Check("database", "pass", "quick_check ok, migrations at head")


def stored_cursor(settings: Settings) -> str | None:
    """The manifest cursor the daemon would send, read-only; None when unreadable."""
    from player.store.read_only import connect_read_only, read_cursor

    db_path = settings.db_path
    if not db_path.is_file():
        return None
    try:
        conn = connect_read_only(db_path, timeout_s=COMMAND_TIMEOUT_S)
    except sqlite3.Error:
        return None
    try:
        return read_cursor(conn)
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def check_cache(settings: Settings, probes: DoctorProbes) -> Check:
    from player.adapters.media_cache import CacheEntry, MediaCache, hash_file

    cache = MediaCache(settings.media_dir)
    try:
        entries = cache.list_files()
    except OSError as exc:
        return Check("cache", "fail", f"cannot list {cache.root}: {exc.strerror or exc}")
    if not entries:
        return Check("cache", "pass", "empty (nothing downloaded yet)")
    candidates = list(entries)
    probes.rng.shuffle(candidates)
    sample: list[CacheEntry] = []
    budget = CACHE_SAMPLE_BYTES
    for entry in candidates:
        if len(sample) >= CACHE_SAMPLE_FILES:
            break
        if entry.size_bytes <= budget:
            sample.append(entry)
            budget -= entry.size_bytes
    bad: list[str] = []
    for entry in sample:
        try:
            actual, _size = hash_file(cache.path_for(entry.sha256))
        except FileNotFoundError:  # evicted meanwhile
            continue
        except OSError as exc:
            bad.append(f"{entry.sha256}: unreadable: {exc.strerror or exc}")
            continue
        if actual != entry.sha256:
            bad.append(f"{entry.sha256}: content has sha256 {actual}")
    checked = f"{len(sample)} of {len(entries)} files re-hashed"
    if bad:
        first = bad[0].split(":", 1)[0]
        return Check(
            "cache",
            "fail",
            f"{len(bad)} corrupt ({checked}): {first[:16]}",
            "remove the file; the player downloads it again",
            tuple(bad),
        )
    return Check("cache", "pass", f"{checked}, all match")


def _size(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover


def check_disk(settings: Settings, probes: DoctorProbes) -> Check:
    from player.adapters.media_cache import MediaCache

    target = settings.media_dir
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        free = probes.disk_free_bytes(target)
        used = MediaCache(settings.media_dir).usage().size_bytes
    except OSError as exc:
        return Check("disk", "fail", f"cannot read free space: {exc.strerror or exc}")
    budget = settings.downloads.max_cache_bytes
    minimum = settings.downloads.min_free_bytes
    summary = f"{_size(free)} free (min {_size(minimum)}), cache {_size(used)}"
    if budget is not None:
        summary += f" of {_size(budget)}"
    if free < minimum:
        return Check("disk", "fail", summary, "free space on the SD card or lower the cache")
    if budget is not None and used > budget:
        return Check("disk", "warn", summary, "cache over budget: the janitor will evict")
    if free < 2 * minimum:
        return Check("disk", "warn", summary, "disk nearly at the minimum free space")
    return Check("disk", "pass", summary)
