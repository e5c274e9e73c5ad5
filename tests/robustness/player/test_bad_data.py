"""Suite 3: bad data. Generated broken manifests and bundles never crash the player,
never change stored state when rejected, and never write outside the cache."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from player.cli import main as player_cli
from player.errors import ManifestError
from player.store.repository import PlayerStore
from player.wire import decode_manifest
from tests.robustness.player.docpaths import parent
from tests.robustness.player.docpaths import paths as doc_paths

BODIES = [b"RIFF-song-" + bytes(range(256)) * 8, b"RIFF-evac-" + bytes(range(255, -1, -1)) * 4]
SHAS = [hashlib.sha256(b).hexdigest() for b in BODIES]

BAD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -(2**63),
    2**63,
    10**30,
    1.5,
    float("1e308"),
    "",
    "x",
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    "a/../../b",
    "\x00",
    "é" * 300,
    [],
    [1],
    {},
    {"a": 1},
    "2026-13-45T99:00:00Z",
    "2026-12-01T09:00:00",
    "24:00",
    "99:99",
]
PATH_LIKE = ["../../etc/passwd", "/etc/passwd", "..", "media/../../x", "a\\..\\b", "./x", "\x00"]


def base_manifest() -> dict[str, Any]:
    """A valid full manifest whose two assets' bytes are ``BODIES``."""

    def asset(i: int, emergency: bool) -> dict[str, Any]:
        return {
            "id": f"ast-{i}",
            "sha256": SHAS[i],
            "size": len(BODIES[i]),
            "media_type": "audio",
            "content_type": "audio/wav",
            "title": f"t{i}",
            "duration_ms": 1500,
            "valid_from": None,
            "valid_until": None,
            "emergency": emergency,
            "url": f"/v1/media/{SHAS[i]}",
        }

    return {
        "schema": 1,
        "cursor": "r1",
        "full": True,
        "server_time": "2026-12-01T09:00:00Z",
        "sync_interval_s": 600,
        "device": {"id": "dev-1", "name": "Shop", "timezone": "Europe/Paris", "groups": ["g1"]},
        "assets": [asset(0, False), asset(1, True)],
        "playlists": [
            {
                "id": "pl-1",
                "name": "Day",
                "version": 1,
                "items": [
                    {"asset_id": "ast-0", "duration_ms": None},
                    {"asset_id": "ast-1", "duration_ms": 2000},
                ],
            }
        ],
        "schedules": [
            {
                "id": "sch-1",
                "playlist_id": "pl-1",
                "target": "device",
                "priority": 0,
                "days": [1, 2, 3, 4, 5, 6, 7],
                "start_time": "00:00",
                "end_time": "24:00",
                "valid_from": None,
                "valid_until": None,
                "created_at": "2026-11-01T08:00:00Z",
                "version": 1,
            }
        ],
        "deleted": {"assets": [], "playlists": [], "schedules": []},
    }


@st.composite
def broken_manifests(draw: st.DrawFn) -> bytes:
    """A base manifest with 1-3 targeted breakages (some results stay valid)."""
    doc = base_manifest()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "set",
                    "delete",
                    "duplicate",
                    "dangling",
                    "schema",
                    "pathlike",
                    "huge",
                    "negative",
                    "delta",
                    "raw",
                ]
            )
        )
        paths = doc_paths(doc)
        if kind == "set" and paths:
            path = draw(st.sampled_from(paths))
            parent(doc, path)[path[-1]] = copy.deepcopy(draw(st.sampled_from(BAD_VALUES)))
        elif kind == "delete":
            keyed = [p for p in paths if isinstance(p[-1], str)]
            if keyed:
                path = draw(st.sampled_from(keyed))
                del parent(doc, path)[path[-1]]
        elif kind == "duplicate":
            key = draw(st.sampled_from(["assets", "playlists", "schedules"]))
            if isinstance(doc.get(key), list) and doc[key]:
                doc[key].append(copy.deepcopy(doc[key][0]))
        elif kind == "dangling":
            target = draw(st.sampled_from(["item", "schedule", "deleted"]))
            try:
                if target == "item":
                    doc["playlists"][0]["items"][0]["asset_id"] = "ast-missing"
                elif target == "schedule":
                    doc["schedules"][0]["playlist_id"] = "pl-missing"
                else:
                    doc["full"] = False
                    doc["deleted"] = {"assets": ["ast-0"], "playlists": [], "schedules": []}
            except (KeyError, IndexError, TypeError):
                pass
        elif kind == "schema":
            doc["schema"] = draw(st.sampled_from([0, 2, 3, 99, -1, 2**40]))
        elif kind == "pathlike":
            field = draw(st.sampled_from(["id", "sha256", "url"]))
            with contextlib.suppress(KeyError, IndexError, TypeError):
                doc["assets"][0][field] = draw(st.sampled_from(PATH_LIKE))
        elif kind in ("huge", "negative"):
            value = (
                draw(st.sampled_from([2**63, 2**64, 10**40]))
                if kind == "huge"
                else draw(st.integers(-(2**70), -1))
            )
            where = draw(st.sampled_from(["size", "duration_ms", "item", "sync", "priority"]))
            try:
                if where in ("size", "duration_ms"):
                    doc["assets"][0][where] = value
                elif where == "item":
                    doc["playlists"][0]["items"][1]["duration_ms"] = value
                elif where == "sync":
                    doc["sync_interval_s"] = value
                else:
                    doc["schedules"][0]["priority"] = value
            except (KeyError, IndexError, TypeError):
                pass
        elif kind == "delta":
            doc["full"] = False
        else:
            return draw(
                st.sampled_from(
                    [
                        b"",
                        b"null",
                        b"[]",
                        b"{",
                        b"\xff\xfe",
                        b'{"schema": NaN}',
                        json.dumps(doc).encode()[: draw(st.integers(0, 200))],
                    ]
                )
            )
    return json.dumps(doc).encode()


def _state(store: PlayerStore) -> tuple[Any, ...]:
    return (
        store.catalogue.snapshot(),
        store.state.cursor(),
        store.state.device(),
        store.files.file_states(),
        store.state.get_raw("catalogue.revision"),
        store.state.stored_sync_interval(),
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("player.db")
    }


def test_generated_manifests_are_applied_or_rejected_whole_with_a_clear_error(
    tmp_path: Path,
) -> None:
    with PlayerStore.open(tmp_path / "player.db") as store:
        base = decode_manifest(json.dumps(base_manifest()).encode())
        store.catalogue.apply_manifest(base)
        outcomes = {"accepted": 0, "rejected": 0}

        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(broken_manifests())
        def check(raw: bytes) -> None:
            before = _state(store)
            error: ManifestError | None = None
            try:
                manifest = decode_manifest(raw)
                store.catalogue.apply_manifest(manifest)
            except ManifestError as exc:
                error = exc
            if error is not None:
                outcomes["rejected"] += 1
                assert str(error).strip(), "a rejection must say what is wrong"
                assert _state(store) == before, f"rejected manifest changed state: {error}"
                return
            outcomes["accepted"] += 1
            # Accepted (an opaque path-like id is a valid id): it is in the store as sent.
            ids = {a.id for a in store.catalogue.all_assets()}
            assert ids == {a.id for a in manifest.assets} or not manifest.full
            store.catalogue.apply_manifest(base)

        check()
    assert outcomes["rejected"] > 50, outcomes


@dataclass
class ImportBench:
    """A player data dir, a directory outside it, and ``lomuz-player import`` of ``bundle``."""

    data_dir: Path
    config: Path
    outside: Path
    bundle: Path

    @classmethod
    def make(cls, tmp_path: Path, bundle: Path) -> ImportBench:
        data_dir = tmp_path / "data"
        config = tmp_path / "player.toml"
        config.write_text(f'data_dir = "{data_dir}"\n', encoding="utf-8")
        outside = tmp_path / "outside"
        outside.mkdir()
        return cls(data_dir, config, outside, bundle)

    def run_import(self) -> tuple[int, str]:
        """Exit code and stderr; a TimeoutError if the import blocks (on a FIFO, say)."""

        def on_alarm(signum: int, frame: object) -> None:
            raise TimeoutError("import blocked on a special file")

        err = io.StringIO()
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(20)
        try:
            code = player_cli(
                ["--config", str(self.config), "import", str(self.bundle)],
                environ={},
                stdout=io.StringIO(),
                stderr=err,
            )
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        return code, err.getvalue()


def test_generated_bundles_import_or_fail_cleanly_and_write_only_into_the_cache(
    tmp_path: Path,
) -> None:
    bench = ImportBench.make(tmp_path, tmp_path / "deep" / "er" / "bundle")
    data_dir, outside, bundle, run_import = (
        bench.data_dir,
        bench.outside,
        bench.bundle,
        bench.run_import,
    )
    (outside / "keep.txt").write_text("untouched", encoding="utf-8")

    def write_bundle(raw: bytes) -> None:
        media = bundle / "media"
        media.mkdir(parents=True, exist_ok=True)
        for path in media.iterdir():
            path.unlink()
        (bundle / "manifest.json").write_bytes(raw)
        for sha, body in zip(SHAS, BODIES, strict=True):
            (media / sha).write_bytes(body)

    write_bundle(json.dumps(base_manifest()).encode())
    assert run_import() == (0, "")
    outcomes = {"accepted": 0, "rejected": 0}

    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(broken_manifests())
    def check(raw: bytes) -> None:
        write_bundle(raw)
        with PlayerStore.open(data_dir / "player.db") as store:
            before = _state(store)
        files_before = _tree(data_dir)
        outside_before = _tree(tmp_path / "deep") | {"keep": (outside / "keep.txt").read_bytes()}
        code, err = run_import()
        assert code in (0, 1), err
        assert "internal error" not in err and "Traceback" not in err, err
        after_outside = _tree(tmp_path / "deep") | {"keep": (outside / "keep.txt").read_bytes()}
        assert after_outside == outside_before, "import wrote outside the data dir"
        for name in set(_tree(data_dir)) - set(files_before):
            assert name.startswith("media/sha256/"), f"import wrote {name} outside the cache"
        if code == 1:
            outcomes["rejected"] += 1
            assert err.startswith("lomuz-player: ") and len(err.strip()) > len("lomuz-player: ")
            with PlayerStore.open(data_dir / "player.db") as store:
                assert _state(store) == before, f"rejected bundle changed state: {err}"
            assert _tree(data_dir) == files_before
        else:
            outcomes["accepted"] += 1
            write_bundle(json.dumps(base_manifest()).encode())
            assert run_import()[0] == 0

    check()
    assert outcomes["rejected"] > 10, outcomes


SPECIAL_KINDS = ("link-dev-zero", "link-outside", "link-dangling", "fifo", "dir", "socket")
BUNDLE_ENTRIES = ("manifest.json", "media", "media/0", "media/1")


def _make_special(path: Path, kind: str, outside: Path) -> None:
    if kind == "link-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "link-outside":
        path.symlink_to(outside)
    elif kind == "link-dangling":
        path.symlink_to(outside / "nothing-here")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
    else:
        cwd = os.getcwd()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            os.chdir(path.parent)  # sun_path is too short for the tmp path
            try:
                sock.bind(path.name)
            finally:
                os.chdir(cwd)


@st.composite
def special_substitutions(draw: st.DrawFn) -> dict[str, str]:
    """1-3 bundle entries, each replaced by something import must not read."""
    entries = draw(st.lists(st.sampled_from(BUNDLE_ENTRIES), min_size=1, max_size=3, unique=True))
    if "media" in entries:  # its files go with it
        entries = [e for e in entries if not e.startswith("media/")]
    return {
        entry: draw(
            st.sampled_from([k for k in SPECIAL_KINDS if not (entry == "media" and k == "dir")])
        )
        for entry in entries
    }


def test_generated_special_files_in_a_bundle_are_refused_without_blocking(
    tmp_path: Path,
) -> None:
    bench = ImportBench.make(tmp_path, tmp_path / "bundle")
    data_dir, outside, bundle, run_import = (
        bench.data_dir,
        bench.outside,
        bench.bundle,
        bench.run_import,
    )
    # Valid content outside the bundle: linking to it must still be refused.
    (outside / "manifest.json").write_text(json.dumps(base_manifest()), encoding="utf-8")
    for sha, body in zip(SHAS, BODIES, strict=True):
        (outside / sha).write_bytes(body)

    def write_valid() -> None:
        shutil.rmtree(bundle, ignore_errors=True)
        (bundle / "media").mkdir(parents=True)
        (bundle / "manifest.json").write_text(json.dumps(base_manifest()), encoding="utf-8")
        for sha, body in zip(SHAS, BODIES, strict=True):
            (bundle / "media" / sha).write_bytes(body)

    write_valid()
    assert run_import() == (0, "")
    outside_before = _tree(outside)

    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(special_substitutions())
    def check(substitutions: dict[str, str]) -> None:
        write_valid()
        for entry, kind in substitutions.items():
            name = SHAS[int(entry[-1])] if entry.startswith("media/") else entry
            path = bundle / ("media/" + name if entry.startswith("media/") else name)
            target = outside / (name if entry != "media" else "")
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            _make_special(path, kind, target if entry != "media" else outside)
        with PlayerStore.open(data_dir / "player.db") as store:
            before = _state(store)
        files_before = _tree(data_dir)
        code, err = run_import()
        assert code == 1, (substitutions, err)
        assert err.startswith("lomuz-player: ") and len(err.strip().splitlines()) == 1, err
        assert "internal error" not in err and "Traceback" not in err, err
        assert any(
            f"{bundle}/{e if not e.startswith('media/') else 'media/' + SHAS[int(e[-1])]}" in err
            for e in substitutions
        ), (substitutions, err)
        assert str(outside) not in err, err
        with PlayerStore.open(data_dir / "player.db") as store:
            assert _state(store) == before
        assert _tree(data_dir) == files_before
        assert _tree(outside) == outside_before

    check()
