"""Director endpoints for assets and playlists (admin token)."""

from __future__ import annotations

import falcon

from control_api import http, wire
from control_api.core import validation as v
from control_api.deps import Deps
from control_api.resources import bodies
from control_api.services import assets, playlists

ASSET_PARAMS = ("filename", "title", "emergency", "valid_from", "valid_until")


class Assets:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = http.list_params(req)
        page = assets.list_assets(self.deps.db, req.context.principal.tenant_id, limit, after)
        http.send(resp, wire.assets_page(page.items, page.next))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """201 with the new asset; 200 with the tenant's asset of the same bytes."""
        kind = assets.upload_kind(req.content_type)
        http.check_params(req, ASSET_PARAMS)
        fields = assets.AssetFields(
            filename=http.str_param(req, "filename", v.MAX_FILENAME_CHARS),
            title=http.str_param(req, "title", v.MAX_NAME_CHARS),
            emergency=http.bool_param(req, "emergency") or False,
            valid_from=http.instant_param(req, "valid_from"),
            valid_until=http.instant_param(req, "valid_until"),
        )
        settings = self.deps.settings
        uploaded = assets.upload(
            self.deps.db,
            self.deps.media,
            req.context.principal.tenant_id,
            kind,
            fields,
            body=lambda: http.body_stream(req),
            now=self.deps.now(),
            limits=assets.UploadLimits(settings.max_upload_bytes, settings.tenant_quota_bytes),
            keep_revisions=settings.changelog_horizon_revisions,
        )
        if uploaded.created:
            http.created(resp, "assets", uploaded.asset.id)
            self.deps.wake_measurer()
        http.send(resp, wire.asset(uploaded.asset))


class AssetItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        asset = assets.get_asset(self.deps.db, req.context.principal.tenant_id, asset_id)
        http.send(resp, wire.asset(asset))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        changes = bodies.asset_changes(http.read_json(req, self.deps.settings.max_json_bytes))
        asset = assets.edit_asset(
            self.deps.db,
            req.context.principal.tenant_id,
            asset_id,
            changes,
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        http.send(resp, wire.asset(asset))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        assets.delete_asset(
            self.deps.db,
            self.deps.media,
            req.context.principal.tenant_id,
            asset_id,
            self.deps.settings.changelog_horizon_revisions,
        )
        resp.status = falcon.HTTP_204


class Playlists:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit, after = http.list_params(req)
        tenant_id = req.context.principal.tenant_id
        page = playlists.list_playlists(self.deps.db, tenant_id, limit, after)
        http.send(resp, wire.playlists_page(page.items, page.next))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        name, items, crossfade_ms = bodies.playlist_with_crossfade(body)
        record = playlists.create_playlist(
            self.deps.db,
            req.context.principal.tenant_id,
            name,
            items,
            crossfade_ms=crossfade_ms,
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        http.created(resp, "playlists", record.playlist.id)
        http.set_etag(resp, record.version)
        http.send(resp, wire.playlist_record(record))


class PlaylistItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        record = playlists.get_playlist(self.deps.db, tenant_id, playlist_id)
        http.set_etag(resp, record.version)
        http.send(resp, wire.playlist_record(record))

    def on_put(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        name, items, crossfade_ms = bodies.playlist_with_crossfade(body)
        record = playlists.replace_playlist(
            self.deps.db,
            req.context.principal.tenant_id,
            playlist_id,
            name,
            items,
            crossfade_ms=crossfade_ms,
            if_match=req.get_header("If-Match"),
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        http.set_etag(resp, record.version)
        http.send(resp, wire.playlist_record(record))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        playlists.delete_playlist(
            self.deps.db,
            req.context.principal.tenant_id,
            playlist_id,
            if_match=req.get_header("If-Match"),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
            now=self.deps.now(),
        )
        resp.status = falcon.HTTP_204
