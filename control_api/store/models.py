"""SQLAlchemy tables of the control API. Every content row carries ``tenant_id``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as UTC on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    # Cursors below this revision predate the pruned part of the change log.
    horizon: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdminToken(Base):
    """A tenant's admin token, stored hashed.

    ``prefix`` is the token's first characters (``repository.TOKEN_PREFIX_CHARS``),
    not secret, so that an operator can name a token to revoke; null for tokens
    issued before it was kept (revocable by the whole token only).
    """

    __tablename__ = "admin_tokens"
    __table_args__ = (Index("ix_admin_tokens_tenant_prefix", "tenant_id", "prefix"),)
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    prefix: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Device(Base):
    __tablename__ = "devices"
    # The panel's sorted pages: keyset over (name, id) and (last_seen_at, id).
    __table_args__ = (
        Index("ix_devices_tenant_name", "tenant_id", "name", "id"),
        Index("ix_devices_tenant_last_seen", "tenant_id", "last_seen_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    groups: Mapped[list[str]] = mapped_column(JSON)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    hardware: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # MQTT presence (lomuz_rules.push): "online" or "offline", None = never heard over MQTT.
    presence_state: Mapped[str | None] = mapped_column(String(8))
    presence_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RevocationSerial(Base):
    """One row (``id`` 1): bumped in every transaction that revokes a device token.

    Each API process caches device tokens; it re-reads this serial at most every
    ``auth.REVOCATION_CHECK_S`` and empties its cache when the serial moved (see
    control_api/auth.py). A single-row UPDATE serialises revokers, so a reader
    sees every revocation committed before its read.
    """

    __tablename__ = "revocation_serial"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger, default=0)


class EnrollFailures(Base):
    """Failed enrollment attempts of one client address, shared by every API process.

    ``failures`` counts bad codes since ``window_started_at``; ``locked_until`` is
    set when they reach the limit (``core/lockout.py`` holds the rule). Rows are
    pruned once both the window and the lock are over.
    """

    __tablename__ = "enroll_failures"
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sha256", name="uq_assets_tenant_sha256"),
        Index("ix_assets_tenant_emergency", "tenant_id", "emergency"),
        Index("ix_assets_tenant_id", "tenant_id", "id"),
        Index("ix_assets_sha256", "sha256"),
        # The measurers' claim (control_api.store.measurements).
        Index("ix_assets_measure_due", "measure_state", "measure_next_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(10))
    content_type: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(200))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Measured by the API (issue 14, control_api.measuring); None until measured, and
    # loudness/peak None for a silent file.
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    true_peak_dbtp: Mapped[float | None] = mapped_column(Float)
    cue_in_ms: Mapped[int | None] = mapped_column(BigInteger)
    cue_out_ms: Mapped[int | None] = mapped_column(BigInteger)
    # "pending" | "measured" | "failed"; None: not measured (images).
    measure_state: Mapped[str | None] = mapped_column(String(10))
    measure_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Why the last attempt failed, or why a measured file has no loudness.
    measure_error: Mapped[str | None] = mapped_column(String(300))
    measure_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: now
    measure_lease_owner: Mapped[str | None] = mapped_column(String(40))
    measure_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    measured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Playlist(Base):
    __tablename__ = "playlists"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Overlap of consecutive items, 0..10000 (issue 14); the player does the fading.
    crossfade_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlaylistItem(Base):
    __tablename__ = "playlist_items"
    playlist_id: Mapped[str] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_tenant_target", "tenant_id", "target_kind", "target_value"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    playlist_id: Mapped[str] = mapped_column(ForeignKey("playlists.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target_value: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer)
    days: Mapped[list[int]] = mapped_column(JSON)
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Override(Base):
    """ "Play this playlist on these devices now, until ``until``" (above every schedule)."""

    __tablename__ = "overrides"
    __table_args__ = (
        Index("ix_overrides_tenant_target", "tenant_id", "target_kind", "target_value"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    playlist_id: Mapped[str] = mapped_column(ForeignKey("playlists.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target_value: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Change(Base):
    """One row per object touched by a revision; "since r" is a range scan on the pk."""

    __tablename__ = "changes"
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    deleted: Mapped[bool] = mapped_column(Boolean)
    # What made the object a root of some view just before this revision
    # (core.manifest: "", "emergency", "all", "device:<id>", "group:<name>");
    # None on rows logged before the column existed.
    root_before: Mapped[str | None] = mapped_column(String(120), nullable=True)


class Play(Base):
    __tablename__ = "plays"
    __table_args__ = (
        Index("ix_plays_tenant_started", "tenant_id", "started_at", "id"),
        # A device's plays, newest first (the panel's device page, ?device_id=).
        Index("ix_plays_tenant_device_started", "tenant_id", "device_id", "started_at", "id"),
    )
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40))
    asset_id: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    schedule_id: Mapped[str | None] = mapped_column(String(40))
    playlist_id: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlayDay(Base):
    """Plays counted ahead per (tenant, UTC day of ``started_at``): added to by ingest
    in the transaction that inserts the plays, read by the panel's counts.
    ``played_ms`` sums ``ended_at - started_at`` (each play floored to the ms)."""

    __tablename__ = "play_days"
    __table_args__ = {"sqlite_with_rowid": False}
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    plays: Mapped[int] = mapped_column(BigInteger)
    played_ms: Mapped[int] = mapped_column(BigInteger)


class PlayDayAsset(Base):
    """Plays counted ahead per (tenant, UTC day of ``started_at``, asset); as
    :class:`PlayDay`."""

    __tablename__ = "play_days_assets"
    __table_args__ = {"sqlite_with_rowid": False}
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plays: Mapped[int] = mapped_column(BigInteger)
    played_ms: Mapped[int] = mapped_column(BigInteger)


class PlayDayDevice(Base):
    """Plays counted ahead per (tenant, UTC day of ``started_at``, device); as
    :class:`PlayDay`."""

    __tablename__ = "play_days_devices"
    __table_args__ = {"sqlite_with_rowid": False}
    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plays: Mapped[int] = mapped_column(BigInteger)
    played_ms: Mapped[int] = mapped_column(BigInteger)


class DirectorUser(Base):
    """A director's panel account. ``email`` is stored lower-case (emails compare
    case-insensitively), unique within its tenant; ``password_hash`` is argon2id."""

    __tablename__ = "director_users"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email", name="uq_director_users_tenant_email"),
        Index("ix_director_users_email", "email"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PanelSession(Base):
    """A signed-in panel session. ``id`` is the sha256 of the cookie's token (the
    token itself is never stored); it ends ``idle`` after ``last_seen_at`` or at
    ``expires_at``, whichever comes first."""

    __tablename__ = "panel_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("director_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginFailures(Base):
    """Wrong passwords of one account, or of one account from one address
    (``core/login_throttle.py``), shared by every API process. ``key`` is a
    sha256 of what the record counts (``store/accounts.py``)."""

    __tablename__ = "login_failures"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DeviceCommand(Base):
    """A remote command to one device (``control_api.core.commands``: its states).

    No foreign key to the device: decommissioning deletes the device's commands
    in the same transaction (``store.devices.delete_device``).
    """

    __tablename__ = "device_commands"
    # The device's HTTP pick-up: its open commands, oldest first, one range scan.
    __table_args__ = (
        Index("ix_device_commands_device_state", "tenant_id", "device_id", "state", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    device_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Webhook(Base):
    """A tenant's alert receiver (``control_api.core.webhooks``: URL, signature, retries).

    ``secret`` is kept as shown: every delivery is signed with it.
    """

    __tablename__ = "webhooks"
    __table_args__ = (Index("ix_webhooks_tenant_id_id", "tenant_id", "id"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(64))
    events: Mapped[list[str]] = mapped_column(JSON)
    offline_after_s: Mapped[int] = mapped_column(Integer)
    sync_failures: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookAlert(Base):
    """An open alert of one webhook about one device (``control_api.core.alerts``).

    The primary key is the one-open-alert rule: opening is an insert that does
    nothing on conflict, closing a delete; only the writer whose statement
    changed a row sends the event, so two workers never send one twice.
    """

    __tablename__ = "webhook_alerts"
    __table_args__ = (Index("ix_webhook_alerts_tenant_device", "tenant_id", "device_id"),)
    webhook_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event to one webhook: the outbox row and its delivery log entry.

    ``body`` is the JSON sent on every attempt. A sender claims a due pending
    row by setting ``lease_until`` and ``lease_owner``; its result is written
    only while it still holds the lease.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        Index("ix_webhook_deliveries_tenant_device", "tenant_id", "device_id"),
        Index("ix_webhook_deliveries_created_at", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[str] = mapped_column(String(40))
    webhook_id: Mapped[str] = mapped_column(String(40))
    device_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DevicePresenceEvent(Base):
    """One presence transition of a device (``store.presence.record_presence``).

    The id grows with each insert: a device's transitions newest first are one
    range scan of the index. No foreign key to the device: decommissioning
    deletes them in the same transaction (``services.devices.decommission_device``).
    """

    __tablename__ = "device_presence_events"
    __table_args__ = (Index("ix_device_presence_events_device", "tenant_id", "device_id", "id"),)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    device_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class BrokerDeletion(Base):
    """A revoked device whose broker account is still to be deleted (issue 13).

    Written when a device token is revoked (decommission, a new enrollment code)
    and the API manages broker accounts; deleted once the broker confirmed
    (``control_api.broker_revocations``). ``requested_at`` lets a confirmation
    drop only the request it served, never a newer one.
    """

    __tablename__ = "broker_deletions"
    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
