"""MediaCache on a real directory: layout, atomic verified copies, listing, cleanup."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from player.adapters.media_cache import MediaCache, validate_sha256
from player.errors import DownloadError, IntegrityError

DATA = b"some media bytes" * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def write_src(tmp_path: Path, data: bytes = DATA) -> Path:
    src = tmp_path / "incoming.bin"
    src.write_bytes(data)
    return src


def test_layout_is_sha256_shard_hash(cache: MediaCache) -> None:
    assert cache.path_for(SHA) == cache.root / "sha256" / SHA[:2] / SHA
    assert cache.part_path(SHA).parent == cache.root / "partial"


@pytest.mark.parametrize(
    "bad", ["", "../x", SHA.upper(), SHA[:63], SHA + "a", "g" * 64, f"{SHA[:62]}/."]
)
def test_names_that_are_not_a_sha256_never_become_paths(cache: MediaCache, bad: str) -> None:
    for method in (cache.path_for, cache.part_path, cache.has, cache.verify, cache.remove):
        with pytest.raises(ValueError, match="sha256"):
            method(bad)
    with pytest.raises(ValueError, match="sha256"):
        validate_sha256(bad)


def test_store_verified_copy_commits_an_identical_file(tmp_path: Path, cache: MediaCache) -> None:
    path = cache.store_verified_copy(write_src(tmp_path), SHA, len(DATA))

    assert path == cache.path_for(SHA)
    assert path.read_bytes() == DATA
    assert cache.has(SHA)
    assert cache.verify(SHA)
    assert list((cache.root / "partial").iterdir()) == []


@pytest.mark.parametrize(
    ("data", "size", "message"),
    [
        (DATA[:-1] + b"X", len(DATA), "sha256"),
        (DATA, len(DATA) - 1, "larger"),
        (DATA, len(DATA) + 1, "expected"),
    ],
)
def test_store_verified_copy_refuses_a_mismatch_and_stores_nothing(
    tmp_path: Path, cache: MediaCache, data: bytes, size: int, message: str
) -> None:
    with pytest.raises(IntegrityError, match=message):
        cache.store_verified_copy(write_src(tmp_path, data), SHA, size)

    assert not cache.has(SHA)
    assert cache.usage().files == 0
    assert list((cache.root / "partial").iterdir()) == []


def test_store_verified_copy_of_a_missing_source(tmp_path: Path, cache: MediaCache) -> None:
    with pytest.raises(DownloadError, match="cannot read") as info:
        cache.store_verified_copy(tmp_path / "nope", SHA, 1)
    assert not info.value.retryable


def test_verify_detects_a_corrupted_file(tmp_path: Path, cache: MediaCache) -> None:
    path = cache.store_verified_copy(write_src(tmp_path), SHA, len(DATA))
    with path.open("r+b") as f:
        f.write(b"\x00")

    assert not cache.verify(SHA)
    assert not cache.verify("0" * 64)  # missing


def test_commit_part_moves_the_part_into_place(cache: MediaCache) -> None:
    cache.ensure_dirs()
    cache.part_path(SHA).write_bytes(DATA)

    path = cache.commit_part(SHA)

    assert path.read_bytes() == DATA
    assert not cache.part_path(SHA).exists()


def test_remove_deletes_the_file_and_its_part(tmp_path: Path, cache: MediaCache) -> None:
    cache.store_verified_copy(write_src(tmp_path), SHA, len(DATA))
    cache.part_path(SHA).write_bytes(b"x")

    assert cache.remove(SHA)
    assert not cache.has(SHA)
    assert not cache.part_path(SHA).exists()
    assert not cache.remove(SHA)


def test_usage_and_listing_ignore_parts_and_foreign_files(
    tmp_path: Path, cache: MediaCache
) -> None:
    cache.store_verified_copy(write_src(tmp_path), SHA, len(DATA))
    other = b"other"
    other_sha = hashlib.sha256(other).hexdigest()
    cache.store_verified_copy(write_src(tmp_path, other), other_sha, len(other))
    cache.part_path("a" * 64).write_bytes(b"partial")
    (cache.path_for(SHA).parent / "notes.txt").write_text("x")
    (cache.root / "sha256" / "zz").mkdir()
    misplaced = cache.root / "sha256" / "zz" / ("b" * 64)
    misplaced.write_bytes(b"wrong shard")

    entries = cache.list_files()

    assert [e.sha256 for e in entries] == sorted([SHA, other_sha])
    usage = cache.usage()
    assert (usage.files, usage.size_bytes) == (2, len(DATA) + len(other))


def test_empty_cache_has_no_usage(cache: MediaCache) -> None:
    assert cache.list_files() == []
    assert cache.usage().files == 0
    assert cache.stale_parts(0) == []


def test_stale_parts_removes_only_old_partial_files(cache: MediaCache) -> None:
    cache.ensure_dirs()
    old = cache.part_path("a" * 64)
    new = cache.part_path("b" * 64)
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    os.utime(old, (1_000, 1_000))
    os.utime(new, (9_000, 9_000))

    removed = cache.stale_parts(3_600, now_s=10_000)

    assert removed == [old]
    assert new.exists()
    assert not old.exists()
    with pytest.raises(ValueError, match="older_than_s"):
        cache.stale_parts(-1)


def test_disk_free_bytes_is_positive_even_before_the_cache_exists(cache: MediaCache) -> None:
    assert cache.disk_free_bytes() > 0
