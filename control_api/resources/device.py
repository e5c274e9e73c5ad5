"""Device endpoints: enrollment, manifest (full or delta), telemetry, plays, and media."""

from __future__ import annotations

import falcon

from control_api import http, wire
from control_api.core import validation as v
from control_api.core.proxies import MAX_ADDRESS_CHARS, client_address
from control_api.deps import Deps
from control_api.errors import NotFound
from control_api.resources import bodies
from control_api.services import assets, enrollment, manifest, plays, push_credentials, telemetry


class Enroll:
    auth = None

    def __init__(self, deps: Deps, limiter: enrollment.FailureLimiter) -> None:
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
        code, hardware = bodies.enrollment(http.read_json(req, self.deps.settings.max_json_bytes))
        enrolled = enrollment.enroll(
            self.deps.db, self.limiter, code, hardware, address, now=self.deps.now()
        )
        resp.status = falcon.HTTP_201
        http.send(resp, wire.enrolled(enrolled))


class Manifest:
    """``GET /v1/device/manifest``: 304 from the tenant's revision alone, else full or delta."""

    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ("since",))
        principal = req.context.principal
        result = manifest.poll(
            self.deps.db,
            self.deps.revisions,
            principal.tenant_id,
            principal.device_id,
            req.context.scope,
            since=http.str_param(req, "since", 200) or req.get_header("If-None-Match"),
            now=self.deps.now(),
            # A player syncing on a push nudge asks past the revision cache: another
            # worker may have committed the change less than revision_cache_s ago.
            cached="no-cache" not in (req.get_header("Cache-Control") or "").lower(),
            shared=self.deps.manifests,
        )
        if isinstance(result, manifest.NotModified):
            self.deps.metrics.manifest_served("not_modified")
            resp.status = falcon.HTTP_304
            resp.set_header("ETag", f'"{result.cursor}"')
            return
        self.deps.metrics.manifest_served("full" if result.full else "delta", shared=result.shared)
        resp.set_header("ETag", f'"{result.cursor}"')
        http.send(resp, wire.manifest(result, self.deps.settings.sync_interval_s))


class Telemetry:
    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = http.read_json(req, self.deps.settings.max_json_bytes)
        v.check_free_json(status, "status")
        queued = telemetry.report_status(
            self.deps.db,
            req.context.principal.device_id,
            status,
            self.deps.now(),
            self.deps.settings.telemetry_interval_s,
        )
        if queued:
            self.deps.wake_webhook_sender()
        resp.status = falcon.HTTP_204


class DevicePlays:
    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        principal = req.context.principal
        result = plays.ingest(
            self.deps.db,
            principal.tenant_id,
            principal.device_id,
            body.get("plays"),
            self.deps.now(),
        )
        self.deps.metrics.plays_ingested(result.accepted)
        http.send(resp, wire.ingested(result))


class PushCredentialsResource:
    """``POST /v1/device/push-credentials``: the device's own broker account (issue 13)."""

    auth = "device"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        http.check_params(req, ())
        principal = req.context.principal
        issued = push_credentials.issue(
            self.deps.db,
            self.deps.broker_accounts,
            self.deps.settings.mqtt_device_url,
            push_credentials.Requester(
                principal.tenant_id, principal.device_id, principal.token_hash
            ),
            now=self.deps.now,
            wake_revocations=self.deps.wake_broker_revocations,
        )
        resp.set_header("Cache-Control", "no-store")
        http.send(resp, wire.push_credentials(issued))


class Media:
    """``GET /v1/media/{sha256}`` for a device or admin of a tenant that has the asset."""

    auth = "any"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, sha256: str) -> None:
        from control_api.media_http import serve_media

        asset = assets.media_of(self.deps.db, req.context.principal.tenant_id, sha256)
        if asset is None:
            raise NotFound("no such media")
        path = self.deps.media.path_for(sha256)
        serve_media(req, resp, path, sha256, asset.size_bytes, asset.content_type)

    on_head = on_get
