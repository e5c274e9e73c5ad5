"""Doctor findings from the field: never crash, say the whole reason, name the fix."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from player import doctor
from player.cli import main
from player.credentials import Credentials, save_credentials
from player.doctor import Check, DoctorProbes, render_text, run_checks
from player.settings import ApiSettings, Settings

TLS_REASON = (
    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
    "unable to get local issuer certificate (_ssl.c:1006)"
)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def enroll(settings: Settings, api_url: str = "https://api.test") -> None:
    save_credentials(
        settings.credentials_path, Credentials(api_url, "dev-1", "tok-secret-0123456789")
    )


def failing_transport(exc_text: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(exc_text, request=request)

    return httpx.MockTransport(handler)


def test_a_malformed_api_url_setting_is_a_failed_check_and_the_rest_run(tmp_path: Path) -> None:
    config = tmp_path / "player.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[api]\nurl = "https://exa mple"\n')
    out = io.StringIO()
    code = main(
        ["--config", str(config), "doctor", "--json"], environ={}, stdout=out, stderr=io.StringIO()
    )
    assert code == 1
    checks = {c["name"]: c for c in json.loads(out.getvalue())["checks"]}
    assert checks["config"]["status"] == "fail"
    assert "api.url" in checks["config"]["summary"]
    assert '"https://exa mple"' in checks["config"]["summary"]
    assert {"libvlc", "audio", "timesync", "service"} <= set(checks)


@pytest.mark.parametrize("bad", ["https://exa mple", "http://[::1"])
def test_a_malformed_url_in_the_credentials_does_not_crash_the_doctor(
    settings: Settings, probes: DoctorProbes, bad: str
) -> None:
    settings.credentials_path.write_text(
        json.dumps({"api_url": bad, "device_id": "d", "device_token": "t"})
    )
    checks = by_name(run_checks(settings, environ={}, probes=probes))
    assert checks["api"].status == "fail"
    assert repr(bad) in checks["api"].summary
    assert "not a valid URL" in checks["api"].summary
    assert "service" in checks  # the checks after it ran


def test_the_api_url_setting_is_the_one_probed(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings, "https://enrolled.test")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304)

    configured = replace(settings, api=ApiSettings(url="https://configured.test"))
    doctor.check_api(configured, replace(probes, http_transport=httpx.MockTransport(handler)))
    assert [r.url.host for r in seen] == ["configured.test"]  # what the daemon uses too


def test_a_tls_error_is_shown_whole_with_the_url(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings, "https://api.test")
    checks = by_name(
        doctor.check_api(settings, replace(probes, http_transport=failing_transport(TLS_REASON)))
    )
    api = checks["api"]
    assert api.status == "warn"
    assert api.fix == f"GET https://api.test/v1/device/manifest: ConnectError: {TLS_REASON}"
    rendered = " ".join(line.strip() for line in render_text([api]).splitlines())
    assert "certificate verify failed: unable to get local issuer certificate" in rendered


def test_api_down_names_the_url(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings)
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    api = by_name(doctor.check_api(settings, replace(probes, http_transport=transport)))["api"]
    assert api.status == "warn"
    assert api.summary == (
        "API busy or down: GET https://api.test/v1/device/manifest answered HTTP 503"
    )


def test_a_404_means_no_api_at_that_url(settings: Settings, probes: DoctorProbes) -> None:
    enroll(settings, "https://api.test/api")
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    api = by_name(doctor.check_api(settings, replace(probes, http_transport=transport)))["api"]
    assert api.status == "fail"
    assert api.summary.startswith("no Lomuz API at https://api.test/api: GET https://api.test/api/")


def test_credentials_the_service_user_cannot_read_fail_with_the_chown_fix(
    settings: Settings, probes: DoctorProbes
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the data directory to another user")
    enroll(settings)
    # The box after `sudo lomuz-player enroll` (old player): lomuz's directory, root's file.
    os.chown(settings.data_dir, 65534, 65534)
    path = settings.credentials_path
    api = by_name(doctor.check_api(settings, probes))["api"]
    assert api.status == "fail"
    assert "cannot read it" in api.summary
    assert api.fix is not None and api.fix.startswith("chown ")
    assert str(path) in api.fix and "chmod 600" in api.fix


def test_a_crashing_check_is_its_own_failure(settings: Settings, probes: DoctorProbes) -> None:
    def broken_disk(_path: Path) -> int:
        raise ZeroDivisionError("surprise")

    checks = by_name(
        run_checks(settings, environ={}, probes=replace(probes, disk_free_bytes=broken_disk))
    )
    assert checks["disk"].status == "fail"
    assert checks["disk"].summary == "check crashed: ZeroDivisionError: surprise"
    assert "service" in checks


def test_an_unreadable_credentials_file_gives_the_chown_fix(
    settings: Settings, probes: DoctorProbes
) -> None:
    # A directory where the file should be: read_bytes fails like a permission error.
    settings.credentials_path.mkdir()
    api = by_name(doctor.check_api(settings, probes))["api"]
    assert api.status == "fail"
    assert api.summary.startswith(f"credentials {settings.credentials_path}: cannot read:")
    assert api.fix == (
        f"chown lomuz:lomuz {settings.credentials_path} && chmod 600 {settings.credentials_path}"
    )


def test_an_old_plain_http_enrollment_fails_naming_the_fix_and_probes_nothing(
    settings: Settings, probes: DoctorProbes
) -> None:
    # Enrolled over http:// to a LAN host before issue 10: the credentials still
    # load (the daemon plays its cache), but nothing is sent.
    enroll(settings, "http://api.lan:8080")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(304)

    checks = doctor.check_api(
        settings, replace(probes, http_transport=httpx.MockTransport(handler))
    )
    api = by_name(checks)["api"]
    assert api.status == "fail"
    assert api.summary.startswith(f"api_url in {settings.credentials_path}: must use https://")
    assert "'http://api.lan:8080'; not syncing" in api.summary
    assert api.fix is not None and "allow_insecure_http = true" in api.fix
    assert "enroll again" in api.fix
    assert seen == []
    allowed = replace(settings, api=ApiSettings(allow_insecure_http=True))
    api = by_name(
        doctor.check_api(allowed, replace(probes, http_transport=httpx.MockTransport(handler)))
    )["api"]
    assert api.status == "pass"
    assert len(seen) == 1
