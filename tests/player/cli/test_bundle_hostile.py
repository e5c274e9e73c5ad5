"""``lomuz-player import DIR`` on a hostile bundle: links, FIFOs, devices, sockets, huge files.

Before issue 10 ``manifest.json -> /dev/zero`` read until MemoryError, a FIFO
hung forever and a link to a file outside the bundle had its size and sha256
printed. Import reads only regular files inside the bundle, bounded, and says
which bundle file is wrong and why; nothing is created or changed. Every case
runs the real entry point in a subprocess with a timeout, so a regression that
blocks fails instead of hanging the suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from player.adapters.media_cache import MediaCache
from player.bundle import MAX_MANIFEST_BYTES, apply_bundle, prepare_bundle
from player.errors import BundleError
from tests.player.cli.bundles import manifest_for, standard_assets, write_bundle
from tests.player.cli.test_bundle import FakeStore

TIMEOUT_S = 60
SECRET = b"root's secret, same size as the first asset"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[playback]\nbackend = "null"\n')
    return path


def import_cli(config: Path, bundle: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOMUZ_PLAYER_")}
    done = subprocess.run(
        [sys.executable, "-m", "player.cli", "--config", str(config), "import", str(bundle)],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )
    return done.returncode, done.stderr


def first_media(bundle: Path) -> Path:
    return bundle / "media" / standard_assets()[0].sha256


def replace_with(path: Path, make: Callable[[Path], None]) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    else:
        path.unlink()
    make(path)


def secret_outside(tmp_path: Path, size: int) -> Path:
    secret = tmp_path / "outside" / "secret"
    secret.parent.mkdir(exist_ok=True)
    secret.write_bytes((SECRET * (size // len(SECRET) + 1))[:size])
    return secret


def bind_socket(path: Path) -> None:
    # A relative name: the absolute tmp path is longer than sun_path allows.
    cwd = os.getcwd()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        os.chdir(path.parent)
        try:
            sock.bind(path.name)
        finally:
            os.chdir(cwd)


CASES: list[tuple[str, str, Callable[[Path], None], str]] = [
    (
        "manifest-dev-zero",
        "manifest.json",
        lambda p: p.symlink_to("/dev/zero"),
        "manifest.json: is a symbolic link",
    ),
    ("manifest-fifo", "manifest.json", os.mkfifo, "manifest.json: is a FIFO"),
    ("manifest-dir", "manifest.json", lambda p: p.mkdir(), "manifest.json: is a directory"),
    ("manifest-socket", "manifest.json", bind_socket, "manifest.json: is a socket"),
    (
        "media-dev-zero",
        "media/first",
        lambda p: p.symlink_to("/dev/zero"),
        "is a symbolic link; import reads only regular files",
    ),
    ("media-dev-null", "media/first", lambda p: p.symlink_to("/dev/null"), "is a symbolic link"),
    ("media-fifo", "media/first", os.mkfifo, "is a FIFO"),
    ("media-dir", "media/first", lambda p: p.mkdir(), "is a directory"),
    ("media-socket", "media/first", bind_socket, "is a socket"),
]


@pytest.mark.parametrize(
    ("target", "make", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_special_files_are_refused_with_a_clear_error_and_nothing_stored(
    config: Path, tmp_path: Path, target: str, make: Callable[[Path], None], fragment: str
) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    path = first_media(bundle) if target == "media/first" else bundle / target
    replace_with(path, make)
    code, err = import_cli(config, bundle)
    assert code == 1, err
    assert err.startswith("lomuz-player: ") and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and fragment in err, err
    assert "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "data").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_node_in_the_bundle_is_refused(config: Path, tmp_path: Path) -> None:
    import stat

    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    (bundle / "manifest.json").unlink()
    try:
        os.mknod(bundle / "manifest.json", 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # zero
    except PermissionError:
        pytest.skip("mknod refused (a container without CAP_MKNOD)")
    code, err = import_cli(config, bundle)
    assert code == 1
    assert "manifest.json: is a device" in err


def test_links_to_valid_files_outside_are_refused_and_reveal_nothing(
    config: Path, tmp_path: Path
) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    victim = first_media(bundle)
    secret = secret_outside(tmp_path, len(assets[0].data))
    victim.unlink()
    victim.symlink_to(secret)
    code, err = import_cli(config, bundle)
    assert code == 1
    assert f"{victim}: is a symbolic link" in err
    assert hashlib.sha256(secret.read_bytes()).hexdigest() not in err
    assert str(secret) not in err
    assert not (tmp_path / "data").exists()

    # The same for a valid manifest outside, and for media/ itself.
    (tmp_path / "outside" / "manifest.json").write_bytes((bundle / "manifest.json").read_bytes())
    (bundle / "manifest.json").unlink()
    (bundle / "manifest.json").symlink_to(tmp_path / "outside" / "manifest.json")
    assert "manifest.json: is a symbolic link" in import_cli(config, bundle)[1]


def test_media_directory_as_a_link_is_refused(config: Path, tmp_path: Path) -> None:
    assets = standard_assets()
    real = write_bundle(tmp_path / "real", assets, manifest_for(assets, ["ast-a"]))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_bytes((real / "manifest.json").read_bytes())
    (bundle / "media").symlink_to(real / "media")
    code, err = import_cli(config, bundle)
    assert code == 1
    assert f"{bundle / 'media'}: is a symbolic link, not a directory" in err
    assert not (tmp_path / "data").exists()


def test_media_as_a_regular_file_is_refused(config: Path, tmp_path: Path) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    replace_with(bundle / "media", lambda p: p.write_bytes(b"not a directory"))
    code, err = import_cli(config, bundle)
    assert code == 1
    assert f"{bundle / 'media'}: is a regular file, not a directory" in err


def test_the_bundle_directory_itself_may_be_a_link(config: Path, tmp_path: Path) -> None:
    assets = standard_assets()
    real = write_bundle(tmp_path / "real", assets, manifest_for(assets, ["ast-a"]))
    (tmp_path / "usb").symlink_to(real)
    code, err = import_cli(config, tmp_path / "usb")
    assert code == 0, err


def test_an_oversized_manifest_is_refused_after_a_bounded_read(
    config: Path, tmp_path: Path
) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    with (bundle / "manifest.json").open("r+b") as fh:
        fh.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: no disk used
    code, err = import_cli(config, bundle)
    assert code == 1
    assert f"manifest.json: is larger than the {MAX_MANIFEST_BYTES}-byte limit" in err
    assert not (tmp_path / "data").exists()


def test_an_oversized_media_file_is_refused_by_its_size(config: Path, tmp_path: Path) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    with first_media(bundle).open("r+b") as fh:
        fh.truncate(1 << 40)  # a sparse terabyte: only its size is looked at
    code, err = import_cli(config, bundle)
    assert code == 1
    assert f"has {1 << 40} bytes, the manifest says {len(assets[0].data)}" in err


def test_the_bundle_limit_is_the_sync_limit() -> None:
    from player.adapters.http_api import DEFAULT_MAX_MANIFEST_BYTES

    assert MAX_MANIFEST_BYTES == DEFAULT_MAX_MANIFEST_BYTES


def test_a_file_swapped_for_a_link_after_the_check_is_not_copied(tmp_path: Path) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    cache, store = MediaCache(tmp_path / "cache"), FakeStore()
    plan = prepare_bundle(bundle, cache)
    victim = first_media(bundle)
    victim.unlink()
    victim.symlink_to("/dev/zero")
    with pytest.raises(BundleError, match="is a symbolic link") as info:
        apply_bundle(plan, store, cache)
    assert str(victim) in str(info.value)
    assert store.applied == []


def test_a_file_replaced_by_another_after_the_check_is_not_copied(tmp_path: Path) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    cache, store = MediaCache(tmp_path / "cache"), FakeStore()
    plan = prepare_bundle(bundle, cache)
    victim = first_media(bundle)
    fresh = tmp_path / "bundle" / "fresh"
    fresh.write_bytes(victim.read_bytes())
    os.replace(fresh, victim)  # same content, another inode
    with pytest.raises(BundleError, match="was replaced after it was checked"):
        apply_bundle(plan, store, cache)
    assert store.applied == []
    assert not cache.has(assets[0].sha256)


def test_a_valid_bundle_still_imports_through_the_descriptors(config: Path, tmp_path: Path) -> None:
    assets = standard_assets()
    bundle = write_bundle(tmp_path / "bundle", assets, manifest_for(assets, ["ast-a"]))
    code, err = import_cli(config, bundle)
    assert code == 0, err
    cache = MediaCache(tmp_path / "data" / "media")
    for a in assets:
        assert cache.path_for(a.sha256).read_bytes() == a.data
    assert json.loads((bundle / "manifest.json").read_text())["cursor"] == "bundle-1"
