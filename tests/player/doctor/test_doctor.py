"""lomuz-player doctor: each check against real files, fake hosts and fake commands."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from player import doctor
from player.adapters.media_cache import MediaCache
from player.credentials import Credentials, save_credentials
from player.doctor import (
    Check,
    CommandResult,
    DoctorProbes,
    doctor_command,
    render_json,
    render_text,
    run_checks,
)
from player.errors import ConfigError
from player.settings import DownloadSettings, PlaybackSettings, Settings
from player.store.repository import PlayerStore

from .conftest import FakeRunner, write


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def make_db(settings: Settings, cursor: str | None = None) -> None:
    with PlayerStore.open(settings.db_path) as store:
        if cursor is not None:
            store.state.set_raw("cursor", cursor)


# --- database -------------------------------------------------------------------


def test_missing_database_fails_and_is_not_created(settings: Settings) -> None:
    check = doctor.check_database(settings)
    assert check.status == "fail"
    assert "missing" in check.summary
    assert not settings.db_path.exists()


def test_healthy_database_passes(settings: Settings) -> None:
    make_db(settings)
    check = doctor.check_database(settings)
    assert check == Check("database", "pass", "quick_check ok, migrations at head")


def test_corrupted_database_fails(settings: Settings) -> None:
    make_db(settings)
    with settings.db_path.open("r+b") as fh:
        fh.write(b"this is not sqlite at all" * 4)
    check = doctor.check_database(settings)
    assert check.status == "fail"
    assert "not a database" in check.summary
    assert check.fix is not None


def test_database_at_old_revision_fails_and_is_not_migrated(settings: Settings) -> None:
    make_db(settings)
    with sqlite3.connect(settings.db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0000'")
    conn.close()
    check = doctor.check_database(settings)
    assert check.status == "fail"
    assert "migrations at 0000" in check.summary
    with sqlite3.connect(settings.db_path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0000",)]
    conn.close()


def test_database_without_alembic_table_fails(settings: Settings) -> None:
    make_db(settings)
    with sqlite3.connect(settings.db_path) as conn:
        conn.execute("DROP TABLE alembic_version")
    conn.close()
    check = doctor.check_database(settings)
    assert check.status == "fail"
    assert "migrations at none" in check.summary


# --- cache and disk ---------------------------------------------------------------


def fill_cache(settings: Settings, count: int) -> list[str]:
    cache = MediaCache(settings.media_dir)
    hashes = []
    for i in range(count):
        src = settings.data_dir / f"src{i}"
        body = f"media file {i}".encode() * 100
        src.write_bytes(body)
        import hashlib

        sha = hashlib.sha256(body).hexdigest()
        cache.store_verified_copy(src, sha, len(body))
        hashes.append(sha)
    return hashes


def test_cache_sample_all_good(settings: Settings, probes: DoctorProbes) -> None:
    fill_cache(settings, 3)
    check = doctor.check_cache(settings, probes)
    assert check.status == "pass"
    assert check.summary == "3 of 3 files re-hashed, all match"


def test_cache_sample_is_bounded(settings: Settings, probes: DoctorProbes) -> None:
    fill_cache(settings, doctor.CACHE_SAMPLE_FILES + 3)
    check = doctor.check_cache(settings, probes)
    assert check.summary.startswith(
        f"{doctor.CACHE_SAMPLE_FILES} of {doctor.CACHE_SAMPLE_FILES + 3}"
    )


def test_tampered_cache_file_fails_naming_the_hash(
    settings: Settings, probes: DoctorProbes
) -> None:
    hashes = fill_cache(settings, 2)
    tampered = MediaCache(settings.media_dir).path_for(hashes[1])
    tampered.write_bytes(b"tampered")
    check = doctor.check_cache(settings, probes)
    assert check.status == "fail"
    assert hashes[1][:16] in check.summary
    assert len(check.details) == 1
    assert check.details[0].startswith(hashes[1])
    assert json.dumps(render_json([check])).count(hashes[1]) == 1


def test_disk_below_minimum_fails(settings: Settings, probes: DoctorProbes) -> None:
    low = replace(probes, disk_free_bytes=lambda _p: 100 * 1024 * 1024)
    check = doctor.check_disk(settings, low)
    assert check.status == "fail"
    assert "100.0 MB free (min 256.0 MB)" in check.summary


def test_disk_cache_over_budget_warns(settings: Settings, probes: DoctorProbes) -> None:
    fill_cache(settings, 2)
    tight = replace(settings, downloads=DownloadSettings(max_cache_bytes=100))
    check = doctor.check_disk(tight, probes)
    assert check.status == "warn"
    assert "of 100 B" in check.summary


def test_disk_plenty_passes(settings: Settings, probes: DoctorProbes) -> None:
    assert doctor.check_disk(settings, probes).status == "pass"


# --- libvlc and audio ----------------------------------------------------------------


def broken_libvlc() -> str:
    raise OSError("libvlc.so.5: cannot open shared object file")


def test_libvlc_missing_fails(settings: Settings, probes: DoctorProbes) -> None:
    check = doctor.check_libvlc(settings, replace(probes, libvlc=broken_libvlc))
    assert check.status == "fail"
    assert "libvlc.so.5" in check.summary


def test_libvlc_missing_only_warns_with_null_backend(
    settings: Settings, probes: DoctorProbes
) -> None:
    null = replace(settings, playback=PlaybackSettings(backend="null"))
    assert doctor.check_libvlc(null, replace(probes, libvlc=broken_libvlc)).status == "warn"


@pytest.mark.vlc
def test_real_libvlc_loads() -> None:
    from player.adapters.vlc_probe import load_libvlc

    assert load_libvlc().startswith("3.")


def test_no_audio_device_listed_warns(probes: DoctorProbes) -> None:
    check = doctor.describe_audio_devices({"XDG_RUNTIME_DIR": "/run/user/1000"}, probes)
    assert check.status == "warn"


def test_vlc_backend_fails_when_the_daemon_hears_nothing(
    probes: DoctorProbes, settings: Settings
) -> None:
    live = {"audio": {"state": "none", "problem": "no audio output: no card"}}
    check = doctor.check_audio(settings, {}, replace(probes, daemon_status=lambda _s: live))
    assert check.status == "fail"
    assert "no card" in check.summary
    assert check.fix is not None and "aplay -l" in check.fix


def test_vlc_backend_passes_when_the_daemon_hears_its_items(
    probes: DoctorProbes, settings: Settings
) -> None:
    live = {"audio": {"state": "ok", "problem": None}}
    check = doctor.check_audio(settings, {}, replace(probes, daemon_status=lambda _s: live))
    assert check.status == "pass"


def test_without_a_daemon_the_doctor_plays_a_test_item_itself(
    probes: DoctorProbes, settings: Settings
) -> None:
    probed: list[Settings] = []

    def dead_output(s: Settings) -> str:
        probed.append(s)
        return "no audio output: libvlc decoded 40 audio blocks and no output played any"

    check = doctor.check_audio(settings, {}, replace(probes, audio_probe=dead_output))
    assert probed == [settings]
    assert check.status == "fail"
    assert doctor.check_audio(settings, {}, probes).status == "pass"


def test_null_backend_expects_no_sound(probes: DoctorProbes, settings: Settings) -> None:
    null = replace(settings, playback=replace(settings.playback, backend="null"))
    failing = replace(probes, audio_probe=lambda _s: "no audio output")
    assert doctor.check_audio(null, {}, failing).status != "fail"


@pytest.mark.vlc
def test_the_real_probe_tells_a_dead_device_from_a_working_one() -> None:
    from player.adapters.vlc_output import probe_audio_output
    from player.runtime.playback import default_jingle_path

    jingle = default_jingle_path()
    assert probe_audio_output(["--aout=dummy", "--quiet"], jingle) is None
    dead = probe_audio_output(
        ["--aout=alsa", "--alsa-audio-device=lomuz_no_such_pcm", "--quiet"], jingle
    )
    assert dead is not None and "no audio output" in dead


def test_alsa_card_passes_without_mixing(host_root: Path, probes: DoctorProbes) -> None:
    write(
        host_root,
        "/proc/asound/cards",
        " 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n                      vc4-hdmi-0\n",
    )
    check = doctor.describe_audio_devices({"XDG_RUNTIME_DIR": "/run/user/1000"}, probes)
    assert check.status == "pass"
    assert "vc4hdmi0" in check.summary
    assert check.fix is not None and "one stream" in check.fix


def test_pulse_socket_passes_with_mixing(host_root: Path, probes: DoctorProbes) -> None:
    write(host_root, "/run/user/1000/pulse/native", "")
    check = doctor.describe_audio_devices({"XDG_RUNTIME_DIR": "/run/user/1000"}, probes)
    assert check.status == "pass"
    assert "PulseAudio (mixing)" in check.summary


# --- API and clock -------------------------------------------------------------------


def enroll(settings: Settings) -> None:
    save_credentials(
        settings.credentials_path,
        Credentials("https://api.test", "dev-1", "tok-secret-0123456789"),
    )


def api_transport(
    status: int, skew_s: float = 0.0, seen: list[httpx.Request] | None = None
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        date = format_datetime(datetime.now(UTC) + timedelta(seconds=skew_s), usegmt=True)
        return httpx.Response(status, headers={"Date": date}, content=b"")

    return httpx.MockTransport(handler)


def test_api_304_with_stored_cursor_passes(settings: Settings, probes: DoctorProbes) -> None:
    make_db(settings, cursor="c-42")
    enroll(settings)
    seen: list[httpx.Request] = []
    checks = by_name(
        doctor.check_api(settings, replace(probes, http_transport=api_transport(304, seen=seen)))
    )
    assert checks["api"].status == "pass"
    assert checks["api"].summary == "token ok (HTTP 304)"
    assert checks["clock"].status == "pass"
    assert seen[0].url.path == "/v1/device/manifest"
    assert seen[0].url.params["since"] == "c-42"
    assert seen[0].headers["Authorization"] == "Bearer tok-secret-0123456789"


def test_api_401_fails_with_reenroll(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings)
    checks = by_name(doctor.check_api(settings, replace(probes, http_transport=api_transport(401))))
    assert checks["api"].status == "fail"
    assert checks["api"].fix is not None and "re-enroll" in checks["api"].fix


def test_api_offline_only_warns(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    offline = replace(probes, http_transport=httpx.MockTransport(refuse))
    checks = by_name(doctor.check_api(settings, offline))
    assert checks["api"].status == "warn"
    assert checks["api"].summary == "offline: playing from cache"
    assert checks["clock"].status == "warn"


@pytest.mark.parametrize(
    ("skew_s", "status"), [(2.0, "pass"), (-30.0, "warn"), (10 * 60.0, "fail")]
)
def test_clock_offset_thresholds(
    settings: Settings, probes: DoctorProbes, skew_s: float, status: str
) -> None:
    enroll(settings)
    transport = api_transport(304, skew_s=skew_s)
    clock = by_name(doctor.check_api(settings, replace(probes, http_transport=transport)))["clock"]
    assert clock.status == status
    offset = float(clock.details[0].split()[1])
    assert abs(offset - skew_s) < 2.0
    side = "behind" if skew_s > 0 else "ahead of"  # the API's clock is later: we are behind
    assert clock.summary.startswith("this box is ") and f" {side} the API" in clock.summary


def test_not_enrolled_warns(settings: Settings, probes: DoctorProbes) -> None:
    assert by_name(doctor.check_api(settings, probes))["api"].status == "warn"


def test_world_readable_credentials_warn(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings)
    os.chmod(settings.credentials_path, 0o644)
    api = by_name(doctor.check_api(settings, replace(probes, http_transport=api_transport(304))))
    assert api["api"].status == "warn"
    assert api["api"].fix == f"chmod 600 {settings.credentials_path}"


# --- time, temperature, power -----------------------------------------------------


@pytest.mark.parametrize(("answer", "status"), [("yes\n", "pass"), ("no\n", "warn")])
def test_timesync_from_timedatectl(
    runner: FakeRunner, probes: DoctorProbes, answer: str, status: str
) -> None:
    runner.answers["timedatectl"] = CommandResult(0, answer)
    assert doctor.check_timesync(probes).status == status


def test_timesync_from_timesyncd_flag_file(host_root: Path, probes: DoctorProbes) -> None:
    assert doctor.check_timesync(probes).status == "warn"  # unknown
    write(host_root, "/run/systemd/timesync/synchronized", "")
    assert doctor.check_timesync(probes).status == "pass"


@pytest.mark.parametrize(
    ("millideg", "status"), [("45000", "pass"), ("80000", "warn"), ("90500", "fail")]
)
def test_temperature_thresholds(
    host_root: Path, probes: DoctorProbes, millideg: str, status: str
) -> None:
    write(host_root, "/sys/class/thermal/thermal_zone0/temp", millideg + "\n")
    check = doctor.check_temperature(probes)
    assert check.status == status
    assert f"{int(millideg) / 1000:.1f}" in check.summary


def test_under_voltage_now_fails_with_words(host_root: Path, probes: DoctorProbes) -> None:
    write(host_root, doctor.THROTTLED_SYSFS, "0x50005\n")
    check = doctor.check_power(probes)
    assert check.status == "fail"
    for word in ("under-voltage now", "throttled now", "under-voltage since boot"):
        assert word in check.summary


def test_throttling_from_vcgencmd_past_only_warns(runner: FakeRunner, probes: DoctorProbes) -> None:
    runner.answers["vcgencmd"] = CommandResult(0, "throttled=0x40000\n")
    check = doctor.check_power(probes)
    assert check.status == "warn"
    assert "throttled since boot" in check.summary


def test_no_throttle_reading_passes(probes: DoctorProbes) -> None:
    assert doctor.check_power(probes).status == "pass"


# --- storage and service ---------------------------------------------------------


def test_read_only_data_mount_fails(
    host_root: Path, settings: Settings, probes: DoctorProbes
) -> None:
    write(
        host_root,
        "/proc/mounts",
        "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n"
        f"/dev/mmcblk0p3 {settings.data_dir} ext4 ro,noatime 0 0\n",
    )
    check = doctor.check_storage(settings, probes)
    assert check.status == "fail"
    assert "read-only" in check.summary


def test_rw_mount_with_ext4_errors_fails(
    host_root: Path, settings: Settings, probes: DoctorProbes
) -> None:
    write(host_root, "/proc/mounts", "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n")
    write(host_root, "/sys/fs/ext4/mmcblk0p2/errors_count", "3\n")
    check = doctor.check_storage(settings, probes)
    assert check.status == "fail"
    assert "3 ext4 errors" in check.summary


def test_rw_mount_passes_and_escaped_paths_match(tmp_path: Path, probes: DoctorProbes) -> None:
    data_dir = tmp_path / "my data"
    escaped = str(data_dir).replace(" ", "\\040")
    write(
        probes.root,
        "/proc/mounts",
        f"/dev/sda1 / ext4 ro 0 0\n/dev/sdb1 {escaped} ext4 rw,relatime 0 0\n",
    )
    check = doctor.check_storage(Settings(data_dir=data_dir), probes)
    assert check.status == "pass"
    assert str(data_dir) in check.summary


def systemctl(active: str, watchdog: str = "30s", restarts: str = "0") -> CommandResult:
    return CommandResult(
        0,
        f"LoadState=loaded\nActiveState={active}\nWatchdogUSec={watchdog}\nNRestarts={restarts}\n",
    )


@pytest.mark.parametrize(
    ("answer", "status", "text"),
    [
        (None, "pass", "not under systemd"),
        (systemctl("active"), "pass", "active, watchdog 30s, 0 restarts"),
        (systemctl("active", restarts="2"), "warn", "2 restarts"),
        (systemctl("active", watchdog="0"), "warn", "watchdog off"),
        (systemctl("failed"), "fail", "failed"),
        (CommandResult(0, "LoadState=not-found\nActiveState=inactive\n"), "warn", "not installed"),
    ],
)
def test_service_state(
    runner: FakeRunner, probes: DoctorProbes, answer: CommandResult | None, status: str, text: str
) -> None:
    if answer is not None:
        runner.answers["systemctl"] = answer
    check = doctor.check_service(probes)
    assert check.status == status
    assert text in check.summary


# --- the whole run, rendering, exit codes -------------------------------------------


def test_healthy_box_exits_zero_and_commands_are_bounded(
    settings: Settings, probes: DoctorProbes, runner: FakeRunner
) -> None:
    make_db(settings)
    fill_cache(settings, 1)
    out = io.StringIO()
    code = doctor_command(settings, {}, False, out, probes)
    text = out.getvalue()
    assert code == 0, text
    assert "PASS database" in text
    assert text.strip().splitlines()[-1].startswith("OK:")
    assert runner.calls, "the doctor should ask the system"
    assert all(timeout_s <= 5 for _argv, timeout_s in runner.calls)


def test_a_failure_exits_one_and_json_says_so(settings: Settings, probes: DoctorProbes) -> None:
    out = io.StringIO()
    code = doctor_command(settings, {}, True, out, probes)  # no database
    body = json.loads(out.getvalue())
    assert code == 1
    assert body["ok"] is False
    statuses = {c["name"]: c["status"] for c in body["checks"]}
    assert statuses["database"] == "fail"
    assert set(body["checks"][0]) == {"name", "status", "summary", "fix", "details"}


def test_config_error_runs_the_rest_and_fails(probes: DoctorProbes) -> None:
    checks = run_checks(
        ConfigError("sync.interval_s", "must be an integer"), environ={}, probes=probes
    )
    names = [c.name for c in checks]
    assert checks[0].status == "fail"
    assert "sync.interval_s" in checks[0].summary
    assert "database" not in names
    assert "libvlc" in names and "service" in names


def test_render_text_format() -> None:
    checks = [
        Check("database", "pass", "quick_check ok, migrations at head"),
        Check("api", "fail", "token refused (HTTP 401)", "re-enroll"),
    ]
    lines = render_text(checks).splitlines()
    assert lines[0] == "PASS database  quick_check ok, migrations at head"
    assert lines[1] == "FAIL api       token refused (HTTP 401)"
    assert lines[2].startswith("     -> re-enroll")
    assert lines[-1] == "FAILED: 1 pass, 0 warn, 1 fail"


@given(
    st.lists(
        st.builds(
            Check,
            name=st.sampled_from(["config", "database", "temperature", "storage"]),
            status=st.sampled_from(["pass", "warn", "fail"]),
            summary=st.text(
                st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200
            ),
            fix=st.none() | st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=200),
        ),
        max_size=8,
    )
)
def test_render_text_lines_fit_a_phone(checks: list[Check]) -> None:
    for line in render_text(checks).splitlines():
        assert len(line) <= doctor.TEXT_WIDTH, line


def test_full_run_text_fits_a_phone(settings: Settings, probes: DoctorProbes) -> None:
    make_db(settings)
    hashes = fill_cache(settings, 1)
    MediaCache(settings.media_dir).path_for(hashes[0]).write_bytes(b"x")
    enroll(settings)
    text = render_text(
        run_checks(settings, environ={}, probes=replace(probes, http_transport=api_transport(401)))
    )
    assert "FAIL cache" in text and "FAIL api" in text
    assert max(len(line) for line in text.splitlines()) <= 60


def test_the_cli_doctor_subcommand_works(settings: Settings) -> None:
    from types import SimpleNamespace

    from player.cli import build_parser

    # The CLI registers the subcommand itself so that it imports this module only to run it.
    args = build_parser().parse_args(["doctor", "--json"])
    out = io.StringIO()
    ctx = SimpleNamespace(settings=ConfigError("log.level", "bad"), environ={}, stdout=out)
    assert args.handler(args, ctx) == 1
    assert json.loads(out.getvalue())["checks"][0]["name"] == "config"
