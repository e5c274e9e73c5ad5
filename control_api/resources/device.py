"""Device endpoints: enrollment, manifest (full or delta), telemetry, plays, and media."""

from __future__ import annotations

import logging
from typing import Any

import falcon

from control_api import http
from control_api.auth import EnrollmentLimiter
from control_api.core import manifest as mf
from control_api.core import plays as pp
from control_api.core import validation as v
from control_api.core.proxies import MAX_ADDRESS_CHARS, client_address
from control_api.deps import Deps
from control_api.errors import NotFound, Unauthorized, Unprocessable
from control_api.store import repository as repo
from control_api.store.models import Device

log = logging.getLogger(__name__)
MAX_PLAYS = 1000
SCHEMA = 1


class Enroll:
    auth = None

    def __init__(self, deps: Deps, limiter: EnrollmentLimiter) -> None:
        self.deps = deps
        self.limiter = limiter

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        # Behind a reverse proxy every client shares the proxy's address: count
        # the client named by a trusted proxy instead (else one bad actor locks all).
        address = client_address(
            req.remote_addr or "unknown",
            req.get_header("X-Forwarded-For"),
            self.deps.settings.trusted_proxies,
        )[:MAX_ADDRESS_CHARS]
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        v.check_fields(body, ("enrollment_code", "hardware"), ("enrollment_code",))
        code = v.as_str(body["enrollment_code"], "enrollment_code")
        hardware = body.get("hardware")
        if hardware is not None and not isinstance(hardware, dict):
            raise Unprocessable("hardware", "must be an object")
        v.check_free_json(hardware, "hardware")
        now = self.deps.now()
        # The code first, whatever the address's record says: a valid code always
        # enrolls (a shop behind a NAT shared with a guesser is not locked out).
        with self.deps.db.write() as s:
            enrolled = repo.enroll(s, code, now, hardware)
            if enrolled is None:
                locked_out = self.limiter.failed(s, address, now)
            else:
                self.limiter.succeeded(s, address, now)
        if enrolled is None:
            if locked_out is not None:
                raise locked_out
            raise Unauthorized(
                "unknown, used or expired enrollment code", "invalid_enrollment_code"
            )
        device_id, token = enrolled
        resp.status = falcon.HTTP_201
        resp.media = {"device_id": device_id, "device_token": token}


class Manifest:
    """``GET /v1/device/manifest``: 304 from the tenant's revision alone, else full or delta."""

    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ("since",))
        principal = req.context.principal
        since = http.str_param(req, "since", 200) or req.get_header("If-None-Match")
        # Most polls change nothing: answer those from the cached revision, no session.
        cached = self.deps.revisions.get(principal.tenant_id)
        if cached is not None and self._not_modified(req, resp, since, *cached):
            return
        generation = self.deps.revisions.generation()
        with self.deps.db.read(snapshot=True) as s:
            revision, horizon = repo.tenant_state(s, principal.tenant_id)
            self.deps.revisions.put(principal.tenant_id, (revision, horizon), generation)
            if self._not_modified(req, resp, since, revision, horizon):
                return
            device = s.get(Device, principal.device_id)
            if device is None:
                raise Unauthorized("invalid or revoked token", "invalid_token")
            scope = mf.scope_hash(device.timezone, device.groups)
            base = mf.parse_cursor(since, scope, current=revision, horizon=horizon)
            view = repo.device_view(s, device)
            plan = None
            if base is not None:
                plan = mf.plan_delta(
                    repo.changed_since(s, principal.tenant_id, base),
                    view,
                    mf.device_roots(device.id, device.groups),
                )
            full = plan is None
            if plan is None:
                plan = mf.plan_full(view)
            body = self._render(s, device, plan, mf.make_cursor(revision, scope), full)
        self.deps.metrics.manifest_served("full" if full else "delta")
        resp.set_header("ETag", f'"{body["cursor"]}"')
        resp.media = body

    def _not_modified(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        since: str | None,
        revision: int,
        horizon: int,
    ) -> bool:
        """Answer 304 when the cursor names ``revision`` in the device's current scope."""
        scope = req.context.scope
        if mf.parse_cursor(since, scope, current=revision, horizon=horizon) != revision:
            return False
        resp.status = falcon.HTTP_304
        resp.set_header("ETag", f'"{mf.make_cursor(revision, scope)}"')
        self.deps.metrics.manifest_served("not_modified")
        return True

    def _render(
        self, s: Any, device: Device, plan: mf.Plan, cursor: str, full: bool
    ) -> dict[str, Any]:
        tenant_id = device.tenant_id
        schedules = repo.load_schedules(s, tenant_id, plan.upsert["schedule"])
        playlists = repo.load_playlists(s, tenant_id, plan.upsert["playlist"])
        asset_ids = set(plan.upsert["asset"])
        for playlist in playlists:
            asset_ids.update(item["asset_id"] for item in playlist["items"])
        assets = [
            {**repo.asset_json(a), "url": f"/v1/media/{a.sha256}"}
            for a in repo.load_assets(s, tenant_id, asset_ids)
        ]
        return {
            "schema": SCHEMA,
            "cursor": cursor,
            "full": full,
            "server_time": v.format_instant(self.deps.now()),
            "sync_interval_s": self.deps.settings.sync_interval_s,
            "device": {
                "id": device.id,
                "name": device.name,
                "timezone": device.timezone,
                "groups": list(device.groups),
            },
            "assets": assets,
            "playlists": playlists,
            "schedules": [repo.schedule_json(x, reduced_target=True) for x in schedules],
            "deleted": {
                "assets": sorted(plan.deleted["asset"]),
                "playlists": sorted(plan.deleted["playlist"]),
                "schedules": sorted(plan.deleted["schedule"]),
            },
        }


class Telemetry:
    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = http.read_json(req, self.deps.settings.max_json_bytes)
        v.check_free_json(status, "status")
        with self.deps.db.write() as s:
            device = s.get(Device, req.context.principal.device_id)
            if device is not None:
                device.status = status
                device.last_seen_at = self.deps.now()
        resp.status = falcon.HTTP_204


class DevicePlays:
    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        raw = body.get("plays")
        if not isinstance(raw, list):
            raise Unprocessable("plays", "must be a list of plays")
        if len(raw) > MAX_PLAYS:
            raise Unprocessable("plays", f"at most {MAX_PLAYS} plays per request")
        # Each play on its own (core/plays.py): one bad play must not block the rest.
        parsed: list[tuple[int, dict[str, Any]]] = []
        rejected: list[tuple[int, pp.Rejection]] = []
        for index, item in enumerate(raw):
            try:
                parsed.append((index, pp.parse_play(item, f"plays[{index}]")))
            except Unprocessable as exc:
                rejected.append((index, pp.reject(item, exc)))
        principal = req.context.principal
        with self.deps.db.write() as s:
            known = repo.play_assets(s, principal.tenant_id, (p["asset_id"] for _, p in parsed))
            plays = []
            for index, play in parsed:
                try:
                    pp.check_asset(play, known, f"plays[{index}]")
                except Unprocessable as exc:
                    rejected.append((index, pp.reject(raw[index], exc)))
                else:
                    plays.append(play)
            accepted, duplicates = repo.ingest_plays(
                s, principal.tenant_id, principal.device_id, plays, self.deps.now()
            )
        self.deps.metrics.plays_ingested(accepted)
        if rejected:
            log.info(
                "plays: device %s sent %d plays the API refuses (first: %s)",
                principal.device_id, len(rejected), rejected[0][1].message,
            )
        resp.media = {
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": [r.as_json() for _, r in sorted(rejected, key=lambda r: r[0])],
        }


class Media:
    """``GET /v1/media/{sha256}`` for a device or admin of a tenant that has the asset."""

    auth = "any"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, sha256: str) -> None:
        from control_api.media_http import serve_media

        if not v.is_sha256(sha256):
            raise NotFound("no such media")
        with self.deps.db.read() as s:
            asset = repo.asset_by_sha(s, req.context.principal.tenant_id, sha256)
            if asset is None:
                raise NotFound("no such media")
            size_bytes, content_type = asset.size_bytes, asset.content_type
        serve_media(req, resp, self.deps.media.path_for(sha256), sha256, size_bytes, content_type)

    on_head = on_get
