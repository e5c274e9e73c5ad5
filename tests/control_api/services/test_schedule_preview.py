"""The director's preview: the shared rules on the API's database agree with the player.

One shop in Europe/Paris (group "north") over the week of the spring-forward
Sunday: an overnight schedule for its group, a weekday schedule of higher
priority for the device itself whose only asset expires on Wednesday noon, a
schedule for another group, and an emergency asset for the gaps.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from control_api.errors import NotFound
from control_api.services import schedule_preview as preview
from control_api.services import schedules
from control_api.store import models
from lomuz_rules.model import Tier
from lomuz_rules.timeline import Segment
from player.store import PlayerStore
from player.wire import decode_manifest
from tests.control_api.conftest import Api
from tests.control_api.media_samples import mp3, wav

pytestmark = pytest.mark.skipif(
    shutil.which("ffprobe") is None or shutil.which("ffmpeg") is None,
    reason="ffmpeg not installed (apt: ffmpeg)",
)

PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime(2026, 3, 23, tzinfo=PARIS)  # DST starts Sunday 29 March, 02:00 -> 03:00
WEEK_END = datetime(2026, 3, 30, tzinfo=PARIS)
PROMO_ENDS = datetime(2026, 3, 25, 12, 0, tzinfo=PARIS)  # Wednesday noon


def paris(day: int, hour: int) -> datetime:
    """Local wall-clock time on March ``day`` 2026."""
    return datetime(2026, 3, day, hour, tzinfo=PARIS).astimezone(UTC)


class Shop:
    """The catalogue above, made through the HTTP API; ids by role."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.admin = api.tenant()
        self.assets = {
            "night": self._upload(wav(b"night")),
            "promo": self._upload(wav(b"promo"), valid_until=PROMO_ENDS.isoformat()),
            "south": self._upload(wav(b"south")),
            "alarm": self._upload(mp3(b"alarm"), "audio/mpeg", emergency="true"),
        }
        self.playlists = {
            name: self._playlist(name, self.assets[name]) for name in ("night", "promo", "south")
        }
        self.device_id, self.device_token = api.device(
            self.admin, "Paris 1", timezone="Europe/Paris", groups=["north"]
        )
        self.schedules = {
            "night": self._schedule("night", {"group": "north"}, 0, "22:00", "06:00"),
            "promo": self._schedule(
                "promo", {"device_id": self.device_id}, 5, "05:00", "23:00", days=[1, 2, 3, 4, 5]
            ),
            "south": self._schedule("south", {"group": "south"}, 9, "00:00", "24:00"),
        }
        with api.db.read() as s:
            device = s.get(models.Device, self.device_id)
            assert device is not None
            self.tenant_id = device.tenant_id

    def _upload(self, data: bytes, content_type: str = "audio/wav", **params: str) -> str:
        done = self.api.upload(self.admin, data, content_type, **params)
        assert done.status_code == 201, done.text
        return str(done.json["id"])

    def _playlist(self, name: str, asset_id: str) -> str:
        body = {"name": name, "items": [{"asset_id": asset_id}]}
        done = self.api.call("POST", "/v1/playlists", self.admin, json=body)
        assert done.status_code == 201, done.text
        return str(done.json["id"])

    def _schedule(
        self,
        playlist: str,
        target: dict[str, object],
        priority: int,
        start: str,
        end: str,
        days: list[int] | None = None,
    ) -> str:
        body = {
            "playlist_id": self.playlists[playlist],
            "target": target,
            "priority": priority,
            "start_time": start,
            "end_time": end,
            "days": days or [1, 2, 3, 4, 5, 6, 7],
        }
        done = self.api.call("POST", "/v1/schedules", self.admin, json=body)
        assert done.status_code == 201, done.text
        return str(done.json["id"])

    def segment(self, start: datetime, end: datetime, role: str | None) -> Segment:
        if role is None:
            return Segment(start, end, Tier.EMERGENCY, None, None)
        return Segment(start, end, Tier.PLAYLIST, self.schedules[role], self.playlists[role])


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop(api)


def test_the_week_view_of_the_device(shop: Shop) -> None:
    with shop.api.db.read() as s:
        segments = preview.device_timeline(s, shop.tenant_id, shop.device_id, MONDAY, WEEK_END)
    # (start, role): the device schedule wins its weekday hours (priority),
    # its asset expires Wednesday noon, the group's night covers the rest of
    # the nights (the spring-forward one included), emergency the days; the
    # other group's schedule never shows.
    cuts = [
        (paris(23, 0), "night"),
        (paris(23, 5), "promo"),
        (paris(23, 23), "night"),
        (paris(24, 5), "promo"),
        (paris(24, 23), "night"),
        (paris(25, 5), "promo"),
        (PROMO_ENDS.astimezone(UTC), None),
        (paris(25, 22), "night"),
        (paris(26, 6), None),
        (paris(26, 22), "night"),
        (paris(27, 6), None),
        (paris(27, 22), "night"),
        (paris(28, 6), None),
        (paris(28, 22), "night"),
        (paris(29, 6), None),
        (paris(29, 22), "night"),
    ]
    ends = [start for start, _ in cuts[1:]] + [WEEK_END.astimezone(UTC)]
    assert segments == [
        shop.segment(start, end, role) for (start, role), end in zip(cuts, ends, strict=True)
    ]
    # The spring-forward night is an hour shorter: Sat 22:00 CET to Sun 06:00 CEST.
    saturday_night = segments[-3]
    assert saturday_night.start == paris(28, 22)
    assert saturday_night.end - saturday_night.start == timedelta(hours=7)


def test_what_plays_at_an_instant_with_its_reasons(shop: Shop) -> None:
    with shop.api.db.read() as s:
        promo = preview.what_plays_at(s, shop.tenant_id, shop.device_id, paris(25, 11))
        after = preview.what_plays_at(s, shop.tenant_id, shop.device_id, paris(25, 13))
        silent = preview.what_plays_at(
            s, shop.tenant_id, shop.device_id, paris(25, 13), fallback=Tier.SILENCE
        )
    assert (promo.tier, promo.asset_id) == (Tier.PLAYLIST, shop.assets["promo"])
    assert promo.next_boundary_at == PROMO_ENDS.astimezone(UTC)
    assert (after.tier, after.asset_id) == (Tier.EMERGENCY, shop.assets["alarm"])
    assert (
        f"schedule {shop.schedules['promo']}: no playable item in playlist "
        f"{shop.playlists['promo']}" in after.reasons
    )
    assert f"item 0 asset {shop.assets['promo']}: expired" in after.reasons
    assert f"schedule {shop.schedules['night']}: outside daypart" in after.reasons
    assert not any(shop.schedules["south"] in reason for reason in after.reasons)
    assert silent.tier is Tier.EMERGENCY  # the fallback only matters without emergency assets


def test_without_an_emergency_asset_the_fallback_holds(shop: Shop) -> None:
    done = shop.api.call(
        "PATCH", f"/v1/assets/{shop.assets['alarm']}", shop.admin, json={"emergency": False}
    )
    assert done.status_code == 200, done.text
    with shop.api.db.read() as s:
        at = paris(26, 12)
        assert preview.what_plays_at(s, shop.tenant_id, shop.device_id, at).tier is Tier.JINGLE
        silent = preview.what_plays_at(s, shop.tenant_id, shop.device_id, at, fallback=Tier.SILENCE)
        assert silent.tier is Tier.SILENCE


def test_another_tenants_device_is_not_found(shop: Shop) -> None:
    other_admin = shop.api.tenant("other")
    other_device, _ = shop.api.device(other_admin, "elsewhere")
    with shop.api.db.read() as s, pytest.raises(NotFound):
        preview.what_plays_at(s, shop.tenant_id, other_device, paris(25, 11))


def test_the_player_fed_the_devices_manifest_decides_the_same(shop: Shop, tmp_path: Path) -> None:
    # The manifest as the box fetches it, through the player's decoder and store
    # (what `lomuz-player import` and the syncer do), every file verified.
    got = shop.api.call("GET", "/v1/device/manifest", shop.device_token)
    assert got.status_code == 200, got.text
    manifest = decode_manifest(got.content)
    with shop.api.db.read() as s:
        segments = preview.device_timeline(s, shop.tenant_id, shop.device_id, MONDAY, WEEK_END)
        catalogue = preview.device_catalogue(s, shop.tenant_id, shop.device_id)
    assert {a.id for a in manifest.assets} == set(catalogue.assets)
    assert {x.id for x in manifest.schedules} == {x.id for x in catalogue.schedules}
    assert manifest.device.timezone == catalogue.timezone
    # Every 37 minutes across the week, and both sides of every cut.
    start = MONDAY.astimezone(UTC)
    instants = [start + timedelta(minutes=37 * i) for i in range(7 * 24 * 60 // 37)]
    for segment in segments:
        instants += [segment.start, segment.end - timedelta(microseconds=1)]
    seen: set[tuple[Tier, str | None]] = set()
    with PlayerStore.open(tmp_path / "player.db") as store, shop.api.db.read() as s:
        store.catalogue.apply_manifest(manifest)
        for a in manifest.assets:
            store.files.mark_file_verified(a.sha256, a.size_bytes, start)
        for at in sorted(instants):
            held = next(x for x in reversed(segments) if x.start <= at)
            player = store.decisions.decide(at, choice=lambda c: c[0])
            api = preview.what_plays_at(s, shop.tenant_id, shop.device_id, at)
            expected = (held.tier, held.schedule_id, held.playlist_id)
            assert (player.tier, player.schedule_id, player.playlist_id) == expected, at
            assert (api.tier, api.schedule_id, api.playlist_id) == expected, at
            assert api.asset_id == player.asset_id, at
            seen.add((player.tier, player.schedule_id))
    assert len(seen) == 3  # night, promo and emergency all compared


def test_the_group_week_is_its_scope_in_its_first_devices_zone(shop: Shop) -> None:
    week = preview.group_week(
        shop.api.db, shop.tenant_id, "north", week_of=MONDAY.date(), now=MONDAY
    )
    assert (week.timezone, week.timezone_device_id) == ("Europe/Paris", shop.device_id)
    assert week.first_day == MONDAY.date()
    held = {(seg.start, seg.playlist_id) for seg in week.segments if seg.tier is Tier.PLAYLIST}
    # The group's overnight schedule only: not the device's own promo, not group south's.
    assert {playlist for _, playlist in held} == {shop.playlists["night"]}
    assert (paris(23, 22), shop.playlists["night"]) in held
    assert set(week.playlist_names) == {shop.playlists["night"]}


def test_a_group_without_devices_is_shown_in_utc(shop: Shop) -> None:
    # Paris's Monday 00:00 is Sunday in UTC: "this week" is the week of the zone shown.
    week = preview.group_week(shop.api.db, shop.tenant_id, "south", week_of=None, now=MONDAY)
    assert (week.timezone, week.timezone_device_id) == ("UTC", None)
    assert week.first_day == MONDAY.date() - timedelta(days=7)
    assert {seg.playlist_id for seg in week.segments} == {shop.playlists["south"]}


def test_the_form_choices_name_the_tenants_playlists_devices_and_groups(shop: Shop) -> None:
    other_admin = shop.api.tenant("other")
    shop.api.device(other_admin, "elsewhere", groups=["theirs"])
    choices = schedules.form_choices(shop.api.db, shop.tenant_id, 2)
    assert [name for _, name in choices.playlists] == ["night", "promo"]
    assert choices.more_playlists
    assert choices.devices == [(shop.device_id, "Paris 1")] and not choices.more_devices
    assert choices.groups == ["north", "south"]  # a device's group and a schedule's
