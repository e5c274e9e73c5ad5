"""Loudness measuring against real ffmpeg, SQLite and PostgreSQL (issue 14).

Fixtures are made by ffmpeg's lavfi (a 1 kHz tone padded with silence); the
reference loudness is what ffmpeg's ``loudnorm`` (another filter, another
parser) says of the same file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from control_api.core.loudness import Measurement
from control_api.errors import MeasurementFailed
from control_api.loudness_ffmpeg import FfmpegLoudness
from control_api.measuring import Measurer
from control_api.services import measurements
from tests.control_api.conftest import CLI, Api, cli_env, make_api
from tests.control_api.media_samples import ffmpeg_file, png

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
LEAD_MS, TONE_MS, TAIL_MS = 1000, 2000, 1500


def tone(volume_db: float = -6.0, *, lead_ms: int = LEAD_MS, tail_ms: int = TAIL_MS) -> bytes:
    """A mono 16 kHz WAV (small: uploads in tests are limited to 100 kB): ``lead_ms`` of
    silence, a 1 kHz tone for TONE_MS at ``volume_db``, ``tail_ms`` of silence."""
    return ffmpeg_file(
        ".wav",
        "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=16000:duration={TONE_MS / 1000}",
        "-af", f"volume={volume_db}dB,adelay={lead_ms}:all=1,apad=pad_dur={tail_ms / 1000}",
        "-ac", "1", "-c:a", "pcm_u8",
    )  # fmt: skip


def reference(data: bytes, tmp_path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) as ffmpeg's loudnorm analysis says."""
    path = tmp_path / "ref.wav"
    path.write_bytes(data)
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path),
         "-af", "loudnorm=print_format=json", "-f", "null", "-"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    found = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", done.stderr)
    assert found, done.stderr[-500:]
    doc = json.loads(found.group(0))
    return float(doc["input_i"]), float(doc["input_tp"])


@pytest.fixture
def measuring_api(settings_env: dict[str, str]) -> Iterator[Api]:
    """An app whose measurer runs, as on a server (poll far away: uploads wake it)."""
    env = settings_env | {"LOMUZ_MEASURE_LOUDNESS": "1", "LOMUZ_MEASURE_POLL_S": "3600"}
    yield from make_api(env)


def wait_measured(api: Api, token: str, asset_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        got = api.call("GET", f"/v1/assets/{asset_id}", token).json
        if got["measurement"]["state"] != "pending" or time.monotonic() > deadline:
            return dict(got)
        time.sleep(0.05)


def test_an_upload_is_measured_and_its_device_gets_the_loudness_in_a_delta(
    measuring_api: Api, tmp_path: Path
) -> None:
    api = measuring_api
    admin = api.tenant()
    device_id, device_token = api.device(admin)
    data = tone(-6.0)
    uploaded = api.upload(admin, data, "audio/wav")
    assert uploaded.status_code == 201
    asset_id = uploaded.json["id"]
    playlist = api.call(
        "POST", "/v1/playlists", admin,
        json={"name": "p", "items": [{"asset_id": asset_id}], "crossfade_ms": 1500},
    ).json  # fmt: skip
    api.call("POST", "/v1/schedules", admin, json={
        "playlist_id": playlist["id"], "target": {"device_id": device_id}})  # fmt: skip
    measured = wait_measured(api, admin, asset_id)
    assert measured["measurement"]["state"] == "measured", measured
    lufs, peak = reference(data, tmp_path)
    assert measured["loudness_lufs"] == pytest.approx(lufs, abs=0.5)
    assert measured["true_peak_dbtp"] == pytest.approx(peak, abs=0.5)
    assert measured["cue_in_ms"] == pytest.approx(LEAD_MS, abs=50)
    assert measured["cue_out_ms"] == pytest.approx(LEAD_MS + TONE_MS, abs=50)
    full = api.call("GET", "/v1/device/manifest", device_token).json
    [asset] = full["assets"]
    assert {
        k: asset[k] for k in ("loudness_lufs", "true_peak_dbtp", "cue_in_ms", "cue_out_ms")
    } == {k: measured[k] for k in ("loudness_lufs", "true_peak_dbtp", "cue_in_ms", "cue_out_ms")}
    assert "measurement" not in asset
    assert full["playlists"][0]["crossfade_ms"] == 1500


def test_a_measurement_bumps_the_revision_so_a_delta_carries_it(api: Api, tmp_path: Path) -> None:
    """The measurer stores it: the device polls since its cursor and gets the asset
    again, with the loudness (this worker's cached revision dropped at once)."""
    admin = api.tenant()
    device_id, device_token = api.device(admin)
    data = tone(-12.0)
    asset_id = api.upload(admin, data, "audio/wav").json["id"]
    playlist = api.call(
        "POST", "/v1/playlists", admin, json={"name": "p", "items": [{"asset_id": asset_id}]}
    ).json
    api.call("POST", "/v1/schedules", admin, json={
        "playlist_id": playlist["id"], "target": {"device_id": device_id}})  # fmt: skip
    full = api.call("GET", "/v1/device/manifest", device_token)
    assert full.json["assets"][0]["loudness_lufs"] is None
    cursor = full.json["cursor"]
    assert (
        api.call("GET", "/v1/device/manifest", device_token, params={"since": cursor}).status_code
        == 304
    )
    measurer = _measurer(api, FfmpegLoudness.find(), stored=api.app.deps.revisions.invalidate)
    assert measurer.measure_due() == 1
    delta = api.call("GET", "/v1/device/manifest", device_token, params={"since": cursor})
    assert delta.status_code == 200 and delta.json["full"] is False
    [asset] = delta.json["assets"]
    assert asset["id"] == asset_id and asset["loudness_lufs"] == pytest.approx(
        reference(data, tmp_path)[0], abs=0.5
    )
    assert asset["cue_in_ms"] == pytest.approx(LEAD_MS, abs=50)


class _Recording:
    """The real meter, counting calls; the first call waits until the second measurer
    has tried to claim (so both really run at once)."""

    def __init__(self, claimed_elsewhere: threading.Event) -> None:
        self.inner = FfmpegLoudness.find()
        assert self.inner is not None
        self.calls = 0
        self.lock = threading.Lock()
        self.claimed_elsewhere = claimed_elsewhere

    def measure(self, path: Path, media_type: str, duration_ms: int | None) -> Measurement:
        with self.lock:
            self.calls += 1
        self.claimed_elsewhere.wait(10)
        assert self.inner is not None
        return self.inner.measure(path, media_type, duration_ms)


class _Counter:
    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def loudness_measurement(self, outcome: str) -> None:
        self.outcomes.append(outcome)


def _measurer(api: Api, meter: Any, counter: _Counter | None = None, **kw: Any) -> Measurer:
    return Measurer(
        api.db, api.app.deps.media, meter, counter or _Counter(),
        now=kw.pop("now", lambda: datetime.now(UTC)), poll_s=3600, keep_revisions=1000, **kw,
    )  # fmt: skip


def test_two_measurers_measure_one_asset_once(api: Api) -> None:
    admin = api.tenant()
    api.upload(admin, tone(-9.0), "audio/wav")
    second_tried = threading.Event()
    meter = _Recording(second_tried)
    counter = _Counter()
    first, second = _measurer(api, meter, counter), _measurer(api, meter, counter)
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(first.measure_due()))
    worker.start()
    while meter.calls == 0 and worker.is_alive():
        time.sleep(0.01)
    done.append(second.measure_due())  # the lease is the first's: nothing to claim
    second_tried.set()
    worker.join(30)
    assert sorted(done) == [0, 1]
    assert meter.calls == 1
    assert counter.outcomes == ["measured"]


def test_a_lease_of_a_killed_worker_ends_and_its_late_result_is_not_stored(api: Api) -> None:
    admin = api.tenant()
    asset_id = api.upload(admin, tone(), "audio/wav").json["id"]
    now = datetime.now(UTC)
    killed = measurements.claim(api.db, owner="msr_killed", now=now)
    assert killed is not None
    assert measurements.claim(api.db, owner="msr_other", now=now) is None
    later = killed.lease_until + timedelta(seconds=1)
    taken = measurements.claim(api.db, owner="msr_other", now=later)
    assert taken is not None and taken.asset_id == asset_id
    m = Measurement(-20.0, -3.0, 0, 1000, 1000)
    kw = {"measurement": m, "now": later, "keep_revisions": 100}
    assert measurements.record_measurement(api.db, killed, owner="msr_killed", **kw) == "lost"
    assert measurements.record_measurement(api.db, taken, owner="msr_other", **kw) == "measured"
    assert api.call("GET", f"/v1/assets/{asset_id}", admin).json["loudness_lufs"] == -20.0


def test_an_undecodable_file_fails_with_a_reason_and_the_asset_is_still_served(
    api: Api,
) -> None:
    admin = api.tenant()
    before = api.upload(admin, tone(), "audio/wav").json
    stored = api.app.deps.media.path_for(before["sha256"])
    stored.write_bytes(
        bytes(range(7, 107)) * (before["size"] // 100) + b"x" * (before["size"] % 100)
    )
    counter = _Counter()
    assert _measurer(api, FfmpegLoudness.find(), counter).measure_due() == 1
    after = api.call("GET", f"/v1/assets/{before['id']}", admin).json
    assert after["measurement"]["state"] == "failed"
    assert after["measurement"]["reason"].startswith("the stored file is ")
    assert counter.outcomes == ["failed"]
    unchanged = {k: v for k, v in after.items() if k != "measurement"}
    assert unchanged == {k: v for k, v in before.items() if k != "measurement"}
    assert api.call("GET", f"/v1/media/{before['sha256']}", admin).status_code == 200


def test_a_missing_file_is_retried_after_a_backoff_not_at_once(api: Api) -> None:
    admin = api.tenant()
    asset = api.upload(admin, tone(), "audio/wav").json
    api.app.deps.media.path_for(asset["sha256"]).unlink()
    now = [datetime.now(UTC)]
    counter = _Counter()
    measurer = _measurer(api, FfmpegLoudness.find(), counter, now=lambda: now[0])
    assert measurer.measure_due() == 1
    assert measurer.measure_due() == 0  # waiting for its retry
    got = api.call("GET", f"/v1/assets/{asset['id']}", admin).json["measurement"]
    assert (got["state"], got["failed_attempts"]) == ("pending", 1)
    assert got["reason"] == "the stored file is missing"
    for _ in range(5):
        now[0] += timedelta(hours=2)
        measurer.measure_due()
    got = api.call("GET", f"/v1/assets/{asset['id']}", admin).json["measurement"]
    assert got["state"] == "failed"
    assert counter.outcomes == ["retry", "retry", "retry", "failed"]


def test_images_are_not_measured_and_silence_has_no_loudness(api: Api) -> None:
    admin = api.tenant()
    image = api.upload(admin, png(b"x"), "image/png").json
    assert image["measurement"] is None and image["loudness_lufs"] is None
    silent = ffmpeg_file(".wav", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "2")
    asset = api.upload(admin, silent, "audio/wav").json
    assert asset["measurement"] == {
        "state": "pending", "failed_attempts": 0, "reason": None, "measured_at": None}  # fmt: skip
    assert _measurer(api, FfmpegLoudness.find()).measure_due() == 1
    got = api.call("GET", f"/v1/assets/{asset['id']}", admin).json
    assert got["measurement"]["state"] == "measured"
    assert (got["loudness_lufs"], got["true_peak_dbtp"]) == (None, None)
    assert (got["cue_in_ms"], got["cue_out_ms"]) == (0, 2000)
    assert "silent" in got["measurement"]["reason"]


def test_a_video_without_sound_has_no_loudness(tmp_path: Path) -> None:
    meter = FfmpegLoudness.find()
    assert meter is not None
    path = tmp_path / "v.mp4"
    path.write_bytes(ffmpeg_file(".mp4", "-f", "lavfi", "-i", "color=c=red:s=16x16:d=1"))
    m = meter.measure(path, "video", 1000)
    assert (m.loudness_lufs, m.note) == (None, "no audio track")
    with pytest.raises(MeasurementFailed, match="missing") as caught:
        meter.measure(tmp_path / "gone.wav", "audio", 1000)
    assert caught.value.retryable


def test_the_cli_measures_pending_assets_then_all_again(
    api: Api, settings_env: dict[str, str]
) -> None:
    admin = api.tenant()
    song = api.upload(admin, tone(-6.0), "audio/wav").json
    broken = api.upload(admin, tone(-6.0, lead_ms=0), "audio/wav").json
    api.app.deps.media.path_for(broken["sha256"]).unlink()
    run = [*CLI, "media", "measure"]
    done = subprocess.run(
        run, env=cli_env(settings_env), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stderr  # one failed
    lines = done.stdout.splitlines()
    assert any(line.startswith(f"{song['id']} ") and ": measured: " in line for line in lines)
    assert any(f"{broken['id']} " in line and "retry: the stored file is missing" in line
               for line in lines)  # fmt: skip
    assert lines[-1] == "2 asset(s) measured, 1 failed"
    got = api.call("GET", f"/v1/assets/{song['id']}", admin).json
    assert got["measurement"]["state"] == "measured" and got["loudness_lufs"] is not None
    again = subprocess.run(
        [*run, "--all"], env=cli_env(settings_env), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert any(line.startswith(f"{song['id']} ") and ": unchanged: " in line
               for line in again.stdout.splitlines())  # fmt: skip
