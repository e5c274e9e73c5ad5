"""The API's objects (PROTOCOL.md) built from rows and domain results: every encoder in
one place.

The store and the services return rows and domain results; the JSON resources
(and nothing below them) turn those into the structs of ``control_api.models``,
which ``control_api.http.send`` encodes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

import msgspec

from control_api import models as m
from control_api import models_assets as ma
from control_api import models_commands as mc
from control_api import models_presence as mp
from control_api import models_webhooks as mw
from control_api.core.export import csv_cell
from control_api.core.presence import is_online, presence
from control_api.core.validation import format_instant
from control_api.services.commands import CommandView
from control_api.services.devices import Registered
from control_api.services.enrollment import Enrolled
from control_api.services.manifest import Snapshot
from control_api.services.playlists import PlaylistRecord
from control_api.services.plays import Ingested
from control_api.services.push_credentials import IssuedCredentials
from control_api.services.webhooks import Created
from control_api.store.models import (
    Asset,
    Device,
    DevicePresenceEvent,
    Override,
    Play,
    Playlist,
    PlaylistItem,
    Schedule,
    Webhook,
    WebhookDelivery,
)

MANIFEST_SCHEMA: Literal[1] = 1
ScheduleForm = TypeVar("ScheduleForm", bound="m.ScheduleFields[Any]")
OverrideForm = TypeVar("OverrideForm", bound="m.OverrideFields[Any]")
PLAY_FIELDS = (
    "id",
    "device_id",
    "asset_id",
    "sha256",
    "started_at",
    "ended_at",
    "source",
    "outcome",
    "schedule_id",
    "playlist_id",
)


def _instant(value: datetime) -> str:
    text = format_instant(value)
    assert text is not None  # a datetime always formats
    return text


def asset(a: Asset) -> ma.Asset:
    return ma.Asset(
        id=a.id,
        sha256=a.sha256,
        size=a.size_bytes,
        media_type=a.media_type,  # type: ignore[arg-type]  # the column holds one of three
        content_type=a.content_type,
        title=a.title,
        filename=a.filename,
        duration_ms=a.duration_ms,
        valid_from=format_instant(a.valid_from),
        valid_until=format_instant(a.valid_until),
        emergency=a.emergency,
        created_at=_instant(a.created_at),
        updated_at=_instant(a.updated_at),
        loudness_lufs=a.loudness_lufs,
        true_peak_dbtp=a.true_peak_dbtp,
        cue_in_ms=a.cue_in_ms,
        cue_out_ms=a.cue_out_ms,
        measurement=_measurement(a),
    )


def _measurement(a: Asset) -> ma.AssetMeasurement | None:
    if a.measure_state is None:
        return None
    return ma.AssetMeasurement(
        state=a.measure_state,  # type: ignore[arg-type]  # the column holds one of three
        failed_attempts=a.measure_attempts,
        reason=a.measure_error,
        measured_at=format_instant(a.measured_at),
    )


def assets_page(items: Iterable[Asset], next_cursor: str | None) -> m.AssetList:
    return m.AssetList(items=[asset(a) for a in items], next=next_cursor)


def media_url(sha256: str) -> str:
    return f"/v1/media/{sha256}"


def playlist(p: Playlist, items: Sequence[PlaylistItem]) -> m.Playlist:
    return m.Playlist(
        id=p.id,
        name=p.name,
        items=[m.PlaylistItem(asset_id=i.asset_id, duration_ms=i.duration_ms) for i in items],
        crossfade_ms=p.crossfade_ms,
        version=p.version,
        created_at=_instant(p.created_at),
        updated_at=_instant(p.updated_at),
    )


def playlist_record(record: PlaylistRecord) -> m.Playlist:
    return playlist(record.playlist, record.items)


def playlists_page(items: Iterable[PlaylistRecord], next_cursor: str | None) -> m.PlaylistList:
    return m.PlaylistList(items=[playlist_record(p) for p in items], next=next_cursor)


def device(d: Device, now: datetime, telemetry_interval_s: int) -> m.Device:
    return m.Device(
        id=d.id,
        name=d.name,
        timezone=d.timezone,
        groups=list(d.groups),
        enrolled=d.token_hash is not None,
        last_seen_at=format_instant(d.last_seen_at),
        online=is_online(
            d.presence_state, d.presence_changed_at, d.last_seen_at, now, telemetry_interval_s
        ),
        presence=mp.DevicePresence(
            state=presence(d.presence_state), since=format_instant(d.presence_changed_at)
        ),
        status=d.status,
        created_at=_instant(d.created_at),
        updated_at=_instant(d.updated_at),
    )


def devices_page(
    items: Iterable[Device], next_cursor: str | None, now: datetime, telemetry_interval_s: int
) -> m.DeviceList:
    return m.DeviceList(
        items=[device(d, now, telemetry_interval_s) for d in items], next=next_cursor
    )


def presence_events_page(
    items: Iterable[DevicePresenceEvent], next_cursor: str | None
) -> mp.PresenceEventList:
    return mp.PresenceEventList(
        items=[mp.PresenceEvent(state=e.state, at=_instant(e.at)) for e in items],  # type: ignore[arg-type]  # the column holds one of two
        next=next_cursor,
    )


def registered(r: Registered, now: datetime, telemetry_interval_s: int) -> m.DeviceCreated:
    """A new device, with the one-time enrollment code (shown once)."""
    fields = msgspec.structs.asdict(device(r.device, now, telemetry_interval_s))
    return m.DeviceCreated(**fields, enrollment_code=r.enrollment_code)


def enrollment_code(code: str) -> m.EnrollmentCode:
    return m.EnrollmentCode(enrollment_code=code)


def enrolled(e: Enrolled) -> m.Enrolled:
    return m.Enrolled(device_id=e.device_id, device_token=e.device_token)


def push_credentials(issued: IssuedCredentials) -> mc.PushCredentials:
    return mc.PushCredentials(url=issued.url, username=issued.username, password=issued.password)


def target(sc: Schedule | Override) -> m.Target:
    if sc.target_kind == "device":
        return m.Target(device_id=sc.target_value)
    if sc.target_kind == "group":
        return m.Target(group=sc.target_value)
    return m.Target(all=True)


def schedule(sc: Schedule) -> m.Schedule:
    return _schedule(m.Schedule, sc, target(sc))


def schedules_page(items: Iterable[Schedule], next_cursor: str | None) -> m.ScheduleList:
    return m.ScheduleList(items=[schedule(x) for x in items], next=next_cursor)


def manifest_schedule(sc: Schedule) -> m.ManifestSchedule:
    """The manifest's form: the target's kind alone (the column holds one of three)."""
    return _schedule(m.ManifestSchedule, sc, sc.target_kind)


def _schedule(form: type[ScheduleForm], sc: Schedule, target: Any) -> ScheduleForm:
    """``sc`` in the struct ``form`` (the API's or the manifest's), with its target in
    that form's shape (structs check no types when built: the caller's word)."""
    return form(
        id=sc.id,
        playlist_id=sc.playlist_id,
        target=target,
        priority=sc.priority,
        days=list(sc.days),
        start_time=sc.start_time,
        end_time=sc.end_time,
        valid_from=format_instant(sc.valid_from),
        valid_until=format_instant(sc.valid_until),
        version=sc.version,
        created_at=_instant(sc.created_at),
        updated_at=_instant(sc.updated_at),
    )


def override(o: Override) -> m.Override:
    return _override(m.Override, o, target(o))


def overrides_page(items: Iterable[Override], next_cursor: str | None) -> m.OverrideList:
    return m.OverrideList(items=[override(x) for x in items], next=next_cursor)


def manifest_override(o: Override) -> m.ManifestOverride:
    """The manifest's form: the target's kind alone, as for a schedule."""
    return _override(m.ManifestOverride, o, o.target_kind)


def _override(form: type[OverrideForm], o: Override, target: Any) -> OverrideForm:
    return form(
        id=o.id,
        playlist_id=o.playlist_id,
        target=target,
        until=_instant(o.until),
        created_at=_instant(o.created_at),
    )


def play(p: Play) -> m.PlayRecord:
    return m.PlayRecord(
        id=p.id,
        device_id=p.device_id,
        asset_id=p.asset_id,
        sha256=p.sha256,
        started_at=_instant(p.started_at),
        ended_at=_instant(p.ended_at),
        source=p.source,
        outcome=p.outcome,
        schedule_id=p.schedule_id,
        playlist_id=p.playlist_id,
    )


def plays_page(items: Iterable[Play], next_cursor: str | None) -> m.PlayList:
    return m.PlayList(items=[play(p) for p in items], next=next_cursor)


def plays_csv(pages: Iterable[Sequence[Play]]) -> Iterator[bytes]:
    """The CSV export: a header row, then one chunk of bytes per page of plays."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(PLAY_FIELDS)
    header_sent = False
    for rows in pages:
        for row in rows:
            record = play(row)
            writer.writerow([csv_cell(getattr(record, f)) for f in PLAY_FIELDS])
        yield buffer.getvalue().encode()
        header_sent = True
        buffer.seek(0)
        buffer.truncate()
    if not header_sent:
        yield buffer.getvalue().encode()


def ingested(result: Ingested) -> m.PlaysAccepted:
    return m.PlaysAccepted(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[
            m.PlayRejection(id=r.id, code=r.code, field=r.field, message=r.message)
            for r in result.rejected
        ],
    )


def _manifest_asset(a: Asset) -> ma.ManifestAsset:
    """The API's form of the asset (``asset``) without its measuring state, with its
    media URL."""
    fields = msgspec.structs.asdict(asset(a))
    del fields["measurement"]  # not the devices' business; it changes without a revision
    return ma.ManifestAsset(**fields, url=media_url(a.sha256))


def manifest(snap: Snapshot, sync_interval_s: int) -> m.Manifest:
    d = snap.device
    return m.Manifest(
        schema=MANIFEST_SCHEMA,
        cursor=snap.cursor,
        full=snap.full,
        server_time=_instant(snap.server_time),
        sync_interval_s=sync_interval_s,
        device=m.ManifestDevice(id=d.id, name=d.name, timezone=d.timezone, groups=list(d.groups)),
        assets=[_manifest_asset(a) for a in snap.assets],
        playlists=[
            m.ManifestPlaylist(**msgspec.structs.asdict(playlist_record(p))) for p in snap.playlists
        ],
        schedules=[manifest_schedule(x) for x in snap.schedules],
        overrides=[manifest_override(x) for x in snap.overrides],
        deleted=m.ManifestDeleted(
            assets=list(snap.deleted_assets),
            playlists=list(snap.deleted_playlists),
            schedules=list(snap.deleted_schedules),
            overrides=list(snap.deleted_overrides),
        ),
    )


def command(view: CommandView) -> mc.Command:
    row = view.row
    return mc.Command(
        id=row.id,
        type=row.type,  # type: ignore[arg-type]
        value=row.value,
        state=view.state,
        result=row.result if row.result is not None else msgspec.UNSET,
        expires_at=_instant(row.expires_at),
        created_at=_instant(row.created_at),
        updated_at=_instant(view.updated_at),
    )


def commands_list(views: Iterable[CommandView]) -> mc.CommandList:
    return mc.CommandList(items=[command(view) for view in views])


def webhook(w: Webhook) -> mw.Webhook:
    return mw.Webhook(
        id=w.id,
        url=w.url,
        events=list(w.events),  # type: ignore[arg-type]
        offline_after_s=w.offline_after_s,
        sync_failures=w.sync_failures,
        created_at=_instant(w.created_at),
    )


def webhook_created(c: Created) -> mw.WebhookCreated:
    """A new webhook with its secret (shown once)."""
    fields = msgspec.structs.asdict(webhook(c.webhook))
    return mw.WebhookCreated(**fields, secret=c.secret)


def webhooks_page(items: Iterable[Webhook], next_cursor: str | None) -> mw.WebhookList:
    return mw.WebhookList(items=[webhook(w) for w in items], next=next_cursor)


def deliveries_page(items: Iterable[WebhookDelivery], next_cursor: str | None) -> mw.DeliveryList:
    return mw.DeliveryList(
        items=[
            mw.Delivery(
                id=d.id,
                event_id=d.event_id,
                event_type=d.event_type,  # type: ignore[arg-type]
                device_id=d.device_id,
                state=d.state,  # type: ignore[arg-type]
                attempts=d.attempts,
                last_status=d.last_status,
                last_error=d.last_error,
                next_attempt_at=format_instant(d.next_attempt_at),
                created_at=_instant(d.created_at),
                delivered_at=format_instant(d.delivered_at),
            )
            for d in items
        ],
        next=next_cursor,
    )


def commands_page(views: Iterable[CommandView], next_cursor: str | None) -> mc.CommandPage:
    return mc.CommandPage(items=[command(view) for view in views], next=next_cursor)
