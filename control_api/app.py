"""Composition root of the control API: ``create_app(settings)`` builds everything."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import falcon

from control_api import docs_page
from control_api.alerting import Alerting, Poster
from control_api.auth import EnrollmentLimiter, TokenAuth
from control_api.broker_accounts import BrokerAccounts, UnmanagedBrokerAccounts
from control_api.broker_revocations import BrokerRevocations
from control_api.deps import Deps
from control_api.error_answers import error_answer
from control_api.errors import NotFound
from control_api.http import send
from control_api.last_seen import LastSeenWriter
from control_api.manifest_cache import ManifestCache
from control_api.measuring import LoudnessMeter, Measurer
from control_api.media import LocalMediaStore, MediaStore
from control_api.metrics import Metrics
from control_api.models import error
from control_api.nudges import NudgePublisher, Nudger, NullPublisher
from control_api.openapi import build_openapi
from control_api.panel import routes as panel_routes
from control_api.panel.error_pages import render_error
from control_api.panel.sessions import PanelSessions
from control_api.panel.templates import Pages
from control_api.passwords import Passwords
from control_api.presence_intake import PresenceIntake, PresenceListener
from control_api.resources import commands, content, device, fleet, ops, overrides, webhooks
from control_api.revisions import RevisionCache
from control_api.services.devices import TokenRevocation
from control_api.services.presence import Recorded, record_presence
from control_api.settings import Settings
from control_api.store.db import Database
from control_api.webhook_http import HttpPoster
from lomuz_rules.push import BrokerAddress, PresenceState, parse_broker_url

_MAX_PATH_PARAM_CHARS = 200
log = logging.getLogger(__name__)


class LomuzApp(falcon.App[falcon.Request, falcon.Response]):
    """The Falcon app plus what the composition root built (``deps``), for the CLI and tests."""

    deps: Deps
    nudger: Nudger | None
    alerting: Alerting
    last_seen: LastSeenWriter
    measurer: Measurer | None
    presence: PresenceFeed | None
    revocations: BrokerRevocations | None

    def close(self) -> None:
        """Stop the alert threads, the loudness measurer, the push nudger, the presence feed and the
        broker-account manager (and their broker connections), then close the database."""
        self.alerting.stop()
        if self.measurer is not None:
            self.measurer.stop()
        if self.nudger is not None:
            self.nudger.stop()
        if self.presence is not None:
            self.presence.stop()
        if self.revocations is not None:
            self.revocations.stop()
        self.deps.broker_accounts.stop()
        self.last_seen.stop()
        self.deps.db.dispose()


class PresenceFeed:
    """The presence listener (paho) and the intake it feeds: started and stopped together."""

    def __init__(self, listener: PresenceListener, intake: PresenceIntake) -> None:
        self.listener = listener
        self.intake = intake

    def start(self) -> None:
        self.intake.start()
        self.listener.start()

    def stop(self) -> None:
        self.listener.stop()
        self.intake.stop()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_wake() -> None:
    pass


class _ErrorHandler:
    """The one error mapping (``error_answer``), as JSON for the API and as an HTML page
    (or an htmx fragment) on the panel's paths."""

    def __init__(self, pages: Pages) -> None:
        self._pages = pages

    def __call__(
        self, req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any
    ) -> None:
        status, code, message, headers = error_answer(ex)
        resp.stream = None
        resp.text = None
        resp.media = None
        if panel_routes.is_panel_path(req.path):
            render_error(self._pages, req, resp, status=status, message=message, headers=headers)
            return
        resp.status = status
        for name, value in headers.items():
            resp.set_header(name, value)
        send(resp, error(code, message))


class _GuardPathParams:
    """A path parameter no object id can be (NUL, which PostgreSQL refuses in
    text, or absurdly long) names nothing: 404 before any query. Every answer
    says ``X-Content-Type-Options: nosniff``."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        for value in params.values():
            if isinstance(value, str) and ("\x00" in value or len(value) > _MAX_PATH_PARAM_CHARS):
                raise NotFound("no such resource")

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")


class _ForgetRevisionAfterEdit:
    """After a director's write request (token or panel session), drop the tenant's cached revision.

    Falcon runs ``process_response`` after the handler committed, so a poll that
    follows the edit in this process reads the new revision.
    """

    def __init__(self, revisions: RevisionCache) -> None:
        self._revisions = revisions

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        if req.method in ("GET", "HEAD", "OPTIONS"):
            return
        principal = getattr(req.context, "principal", None)
        if principal is not None and principal.kind == "admin":
            self._revisions.invalidate(principal.tenant_id)
        director = getattr(req.context, "director", None)  # a change made in the panel
        if director is not None:
            self._revisions.invalidate(director.tenant_id)


def create_app(
    settings: Settings,
    *,
    media: MediaStore | None = None,
    now: Callable[[], datetime] = _utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    passwords: Passwords | None = None,
    publisher: NudgePublisher | None = None,
    webhook_poster: Poster | None = None,
    broker_accounts: BrokerAccounts | None = None,
    loudness_meter: LoudnessMeter | None = None,
) -> LomuzApp:
    """Build the WSGI app: database engine, media store, metrics, routes, error mapping.

    ``monotonic`` drives the in-process revision and token caches (tests pass a fake);
    ``passwords`` hashes director passwords (tests pass cheap argon2 parameters);
    ``publisher`` replaces the MQTT publisher ``LOMUZ_MQTT_URL`` would give (tests);
    ``webhook_poster`` the HTTP client webhooks are POSTed with (tests).
    ``broker_accounts`` the dynamic-security manager ``LOMUZ_MQTT_MANAGE_ACCOUNTS`` would.
    ``loudness_meter`` what measures uploads instead of ffmpeg (tests).
    ``LomuzApp.close()`` stops what this started.
    The caller migrates the database first (``lomuz-control serve`` does).
    """
    db = Database(settings.database_url)
    # Route labels are the OpenAPI path templates (/v1/devices/{id}).
    metrics = Metrics(route_templates=build_openapi()["paths"])
    publisher = _publisher(settings, publisher)
    nudger = _start_push(db, metrics, publisher)
    revisions = RevisionCache(settings.revision_cache_s, monotonic=monotonic)
    alerting = Alerting(
        db,
        metrics,
        (
            webhook_poster
            if webhook_poster is not None
            else HttpPoster(allow_private=settings.webhooks_allow_private)
        ),
        now=now,
        telemetry_interval_s=settings.telemetry_interval_s,
        sweep_s=settings.alerts_sweep_s,
        poll_s=settings.webhook_poll_s,
    )
    accounts = _broker_accounts(settings, broker_accounts)
    revocations = _start_revocations(db, accounts)
    media = media if media is not None else LocalMediaStore(settings.media_dir)
    measurer = _measurer(settings, db, media, metrics, revisions, now, loudness_meter)
    deps = Deps(
        settings=settings,
        db=db,
        media=media,
        metrics=metrics,
        now=now,
        revisions=revisions,
        manifests=ManifestCache(settings.manifest_cache_entries),
        passwords=passwords if passwords is not None else Passwords(),
        publisher=publisher if publisher is not None else NullPublisher(),
        wake_webhook_sender=alerting.wake,
        broker_accounts=accounts if accounts is not None else UnmanagedBrokerAccounts(),
        wake_broker_revocations=revocations.wake if revocations is not None else _no_wake,
        wake_measurer=measurer.wake if measurer is not None else _no_wake,
    )
    # A killed worker's half-received uploads; the age bound spares live ones.
    deps.media.cleanup_stale_temp(settings.stale_upload_s)
    last_seen = LastSeenWriter(db, now, settings.last_seen_write_s)
    auth = TokenAuth(db, settings.token_cache_s, last_seen.seen, monotonic)
    middleware: list[Any] = [
        metrics.middleware,
        auth,
        PanelSessions(deps),
        _GuardPathParams(),
        _ForgetRevisionAfterEdit(revisions),
    ]
    app = LomuzApp(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True

    app.add_route("/healthz", ops.Health(deps))
    app.add_route("/metrics", ops.MetricsResource(deps))
    app.add_route("/v1/openapi.json", ops.OpenApi())
    for path, resource in docs_page.routes():
        app.add_route(path, resource)
    app.add_route("/v1/assets", content.Assets(deps))
    app.add_route("/v1/assets/{asset_id}", content.AssetItem(deps))
    app.add_route("/v1/playlists", content.Playlists(deps))
    app.add_route("/v1/playlists/{playlist_id}", content.PlaylistItem(deps))
    app.add_route("/v1/devices", fleet.Devices(deps))

    def forget_device(device_id: str) -> None:
        """Decommissioned or given a new code, committed: its cached token and retained
        nudge go; the revocation thread deletes the broker account the revoking
        transaction recorded."""
        auth.forget_device(device_id)
        deps.publisher.forget_device(device_id)
        deps.wake_broker_revocations()

    revocation = TokenRevocation(broker_account=revocations is not None, after_commit=forget_device)
    app.add_route("/v1/devices/{device_id}", fleet.DeviceItem(deps, revocation))
    app.add_route("/v1/devices/{device_id}/enrollment-code", fleet.EnrollmentCode(deps, revocation))
    app.add_route("/v1/devices/{device_id}/presence", fleet.DevicePresence(deps))
    app.add_route("/v1/devices/{device_id}/commands", commands.DeviceCommands(deps))
    app.add_route("/v1/devices/{device_id}/commands/{command_id}", commands.DeviceCommandItem(deps))
    app.add_route("/v1/schedules", fleet.Schedules(deps))
    app.add_route("/v1/schedules/{schedule_id}", fleet.ScheduleItem(deps))
    app.add_route("/v1/overrides", overrides.Overrides(deps))
    app.add_route("/v1/overrides/{override_id}", overrides.OverrideItem(deps))
    app.add_route("/v1/plays", fleet.Plays(deps))
    app.add_route("/v1/webhooks", webhooks.Webhooks(deps))
    app.add_route("/v1/webhooks/{webhook_id}", webhooks.WebhookItem(deps))
    app.add_route("/v1/webhooks/{webhook_id}/deliveries", webhooks.Deliveries(deps))
    limiter = EnrollmentLimiter(settings.enroll_max_failures, settings.enroll_lockout_s)
    app.add_route("/v1/enroll", device.Enroll(deps, limiter))
    app.add_route("/v1/device/manifest", device.Manifest(deps))
    app.add_route("/v1/device/telemetry", device.Telemetry(deps))
    app.add_route("/v1/device/plays", device.DevicePlays(deps))
    app.add_route("/v1/device/commands", commands.OpenCommands(deps))
    app.add_route("/v1/device/commands/{command_id}", commands.Acknowledge(deps))
    app.add_route("/v1/device/push-credentials", device.PushCredentialsResource(deps))
    app.add_route("/v1/media/{sha256}", device.Media(deps))
    handler = _ErrorHandler(panel_routes.add_routes(app, deps, revocation))
    app.add_error_handler(Exception, handler)
    app.add_error_handler(falcon.HTTPError, handler)
    app.deps = deps
    app.nudger = nudger
    app.alerting = alerting
    alerting.start()
    app.last_seen = last_seen
    last_seen.start()
    app.measurer = measurer
    if measurer is not None:
        measurer.start()
    app.presence = _start_presence(settings, db, metrics, now)
    app.revocations = revocations
    return app


def _measurer(  # noqa: PLR0917 (the composition root's parts, each once)
    settings: Settings,
    db: Database,
    media: MediaStore,
    metrics: Metrics,
    revisions: RevisionCache,
    now: Callable[[], datetime],
    meter: LoudnessMeter | None,
) -> Measurer | None:
    """The background loudness measurer (not started); None when ``LOMUZ_MEASURE_LOUDNESS``
    is off or ffmpeg is not installed (assets then stay pending, said once)."""
    if not settings.measure_loudness:
        return None
    if meter is None:
        from control_api.loudness_ffmpeg import FfmpegLoudness

        meter = FfmpegLoudness.find()
        if meter is None:
            log.warning(
                "ffmpeg not installed: audio and video stay unmeasured (no loudness or cue"
                " points in manifests) until it is (apt install ffmpeg)"
            )
            return None
    return Measurer(
        db,
        media,
        meter,
        metrics,
        now=now,
        poll_s=settings.measure_poll_s,
        keep_revisions=settings.changelog_horizon_revisions,
        # This worker's 304 path sees the new revision at once (others within a second).
        stored=revisions.invalidate,
    )


def _publisher(settings: Settings, given: NudgePublisher | None) -> NudgePublisher | None:
    """The given publisher, else the MQTT one ``LOMUZ_MQTT_URL`` names; None without a broker."""
    if given is not None or settings.mqtt_url is None:
        return given
    from control_api.push_mqtt import MqttPublisher

    return MqttPublisher(_broker(settings.mqtt_url, settings))


def _broker(url: str, settings: Settings) -> BrokerAddress:
    """``LOMUZ_MQTT_URL`` (the API's own account) with ``LOMUZ_MQTT_CA_FILE``: every
    connection of the API to the broker uses this."""
    return replace(parse_broker_url(url), ca_file=settings.mqtt_ca_file)


def _start_push(db: Database, metrics: Metrics, publisher: NudgePublisher | None) -> Nudger | None:
    """The nudger (it starts the publisher), listening to the store's commits; None
    without a broker."""
    if publisher is None:
        return None
    nudger = Nudger(db, publisher, metrics)
    nudger.start()
    db.listen_commits(nudger.committed)
    return nudger


def _start_presence(
    settings: Settings, db: Database, metrics: Metrics, now: Callable[[], datetime]
) -> PresenceFeed | None:
    """Every device's MQTT presence into the database; None without a broker."""
    if settings.mqtt_url is None:
        return None
    from control_api.presence_mqtt import MqttPresenceListener

    def record(device_id: str, state: PresenceState, received_at: datetime) -> Recorded:
        return record_presence(db, device_id, state, received_at)

    intake = PresenceIntake(record, metrics, now)
    feed = PresenceFeed(
        MqttPresenceListener(_broker(settings.mqtt_url, settings), intake.offer), intake
    )
    feed.start()
    return feed


def _broker_accounts(settings: Settings, given: BrokerAccounts | None) -> BrokerAccounts | None:
    """The given manager, else the dynamic-security one when the API manages broker
    accounts (started); None when it does not."""
    if given is not None:
        given.start()
        return given
    if not settings.manage_broker_accounts or settings.mqtt_url is None:
        return None
    from control_api.broker_dynsec import DynsecAccounts

    accounts = DynsecAccounts(_broker(settings.mqtt_url, settings))
    accounts.start()
    return accounts


def _start_revocations(db: Database, accounts: BrokerAccounts | None) -> BrokerRevocations | None:
    """Deletes revoked devices' broker accounts; None when the API manages none."""
    if accounts is None:
        return None
    revocations = BrokerRevocations(db, accounts)
    revocations.start()
    return revocations
