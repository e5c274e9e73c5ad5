"""Director endpoints for assets and playlists (admin token)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import falcon
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from control_api import http
from control_api.core import media_content as mc
from control_api.core import validation as v
from control_api.deps import Deps
from control_api.errors import (
    BadRequest,
    Conflict,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from control_api.media import MediaStorageError
from control_api.resources.listing import respond_with_page
from control_api.store import media_refs
from control_api.store import repository as repo
from control_api.store.models import Asset, Playlist

log = logging.getLogger(__name__)
ASSET_PARAMS = ("filename", "title", "emergency", "valid_from", "valid_until")
_CONTENT_TYPES = ", ".join(
    f"{media_type}/{subtype}"
    for media_type, subtypes in mc.CONTENT_TYPES.items()
    for subtype in sorted(subtypes)
)


class Assets:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        respond_with_page(
            self.deps, req, resp, Asset, lambda _s, rows: [repo.asset_json(a) for a in rows]
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Receive, inspect, then (under the tenant's lock) dedup, quota and commit.

        Every refusal leaves nothing behind: the temp file is discarded in the
        ``finally`` (a no-op once ``commit`` renamed it into the store).
        """
        tenant_id = req.context.principal.tenant_id
        content_type = (req.content_type or "").split(";", 1)[0].strip().lower()
        media_type = mc.media_type_of(content_type)
        if media_type is None:
            raise UnsupportedMediaType(
                f"Content-Type must be one of {_CONTENT_TYPES}, got {content_type[:80]!r}",
                "unsupported_media_type",
            )
        # Everything stored with the asset is checked before a byte of media is
        # written: a refusal after ``receive`` would leave the file orphaned.
        http.check_params(req, ASSET_PARAMS)
        filename = http.str_param(req, "filename", v.MAX_FILENAME_CHARS)
        title = http.str_param(req, "title", v.MAX_NAME_CHARS)
        emergency = http.bool_param(req, "emergency") or False
        valid_from = http.instant_param(req, "valid_from")
        valid_until = http.instant_param(req, "valid_until")
        v.check_window(valid_from, valid_until, "valid_until")

        media = self.deps.media
        quota_bytes = self.deps.settings.tenant_quota_bytes
        stream, content_length = http.body_stream(req)
        if quota_bytes and content_length is not None:
            self._check_quota_before_reading(tenant_id, content_length, quota_bytes)
        received = media.receive(stream, self.deps.settings.max_upload_bytes, content_length)
        try:
            if received.size_bytes == 0:
                raise BadRequest("the body is empty: send the media file", "empty_body")
            duration_ms = media.inspect(received, media_type)
            now = self.deps.now()
            asset = Asset(
                id=repo.new_id("ast"),
                tenant_id=tenant_id,
                sha256=received.sha256,
                size_bytes=received.size_bytes,
                media_type=media_type,
                content_type=content_type,
                filename=filename,
                title=title,
                duration_ms=duration_ms,
                valid_from=valid_from,
                valid_until=valid_until,
                emergency=emergency,
                created_at=now,
                updated_at=now,
            )
            try:
                with self.deps.db.write() as s:
                    # Uploads of one tenant take turns from here to commit, so
                    # two parallel ones cannot both fit in the last free bytes.
                    media_refs.lock_tenant(s, tenant_id)
                    existing = repo.asset_by_sha(s, tenant_id, received.sha256)
                    if existing is not None:
                        resp.status = falcon.HTTP_200
                        resp.media = repo.asset_json(existing)
                        return
                    refusal = mc.quota_refusal(
                        media_refs.tenant_used_bytes(s, tenant_id), received.size_bytes, quota_bytes
                    )
                    if refusal is not None:
                        raise PayloadTooLarge(refusal, "quota_exceeded")
                    s.add(asset)
                    s.flush()
                    repo.record_changes(s, tenant_id, [("asset", asset.id, False)], self._keep)
                    # Last: a delete of the same bytes in another tenant waits for
                    # this commit before it may unlink the file renamed here.
                    media_refs.lock_media(s, received.sha256)
                    media.commit(received)
            except IntegrityError:
                # The same bytes uploaded concurrently: the other upload won.
                with self.deps.db.read() as s:
                    existing = repo.asset_by_sha(s, tenant_id, received.sha256)
                    if existing is None:
                        raise
                    resp.status = falcon.HTTP_200
                    resp.media = repo.asset_json(existing)
                    return
        finally:
            media.discard(received)
        http.created(resp, "assets", asset.id)
        resp.media = repo.asset_json(asset)

    def _check_quota_before_reading(
        self, tenant_id: str, content_length: int, quota_bytes: int
    ) -> None:
        """413 before a byte is read when the announced length cannot fit, unless an
        asset of the tenant has that length (then it may be a re-upload, decided
        after hashing)."""
        with self.deps.db.read() as s:
            refusal = mc.quota_refusal(
                media_refs.tenant_used_bytes(s, tenant_id), content_length, quota_bytes
            )
            if refusal is not None and not media_refs.tenant_has_asset_of_size(
                s, tenant_id, content_length
            ):
                raise PayloadTooLarge(refusal, "quota_exceeded")

    @property
    def _keep(self) -> int:
        return self.deps.settings.changelog_horizon_revisions


class AssetItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        with self.deps.db.read() as s:
            resp.media = repo.asset_json(
                repo.get_asset(s, req.context.principal.tenant_id, asset_id)
            )

    def on_patch(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        body = http.read_json(req, self.deps.settings.max_json_bytes)
        v.check_fields(body, ("title", "emergency", "valid_from", "valid_until", "duration_ms"))
        changes: dict[str, Any] = {}
        if "title" in body:
            changes["title"] = v.as_opt_str(body["title"], "title")
        if "emergency" in body:
            changes["emergency"] = v.as_bool(body["emergency"], "emergency")
        for key in ("valid_from", "valid_until"):
            if key in body:
                changes[key] = v.as_opt_instant(body[key], key)
        if "duration_ms" in body:
            changes["duration_ms"] = v.as_opt_int(
                body["duration_ms"], "duration_ms", minimum=v.MIN_DURATION_MS
            )
        with self.deps.db.write() as s:
            asset = repo.get_asset(s, tenant_id, asset_id, for_update=True)
            root_before = repo.view_root(asset)
            v.check_window(
                changes.get("valid_from", asset.valid_from),
                changes.get("valid_until", asset.valid_until),
                "valid_until",
            )
            for key, value in changes.items():
                setattr(asset, key, value)
            asset.updated_at = self.deps.now()
            repo.record_changes(
                s,
                tenant_id,
                [("asset", asset.id, False, root_before)],
                self.deps.settings.changelog_horizon_revisions,
            )
            resp.media = repo.asset_json(asset)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        with self.deps.db.write() as s:
            asset = repo.get_asset(s, tenant_id, asset_id, for_update=True)
            if repo.asset_in_use(s, asset.id):
                raise Conflict("a playlist uses this asset", "asset_in_use")
            sha256 = asset.sha256
            s.delete(asset)
            repo.record_changes(
                s,
                tenant_id,
                [("asset", asset_id, True, repo.view_root(asset))],
                self.deps.settings.changelog_horizon_revisions,
            )
        # After the commit: unlinking first, a failed commit would keep an asset
        # without its file. A failure here leaves the file to ``media gc``.
        try:
            media_refs.release_media(self.deps.db, self.deps.media, sha256)
        except (MediaStorageError, SQLAlchemyError):
            log.warning("could not remove media %s; media gc will", sha256, exc_info=True)
        resp.status = falcon.HTTP_204


def parse_playlist(body: dict[str, Any]) -> tuple[str, list[tuple[str, int | None]]]:
    v.check_fields(body, ("name", "items"), ("name", "items"))
    name = v.as_str(body["name"], "name")
    raw_items = body["items"]
    if not isinstance(raw_items, list):
        raise Unprocessable("items", "must be a list")
    if len(raw_items) > 10_000:
        raise Unprocessable("items", "at most 10000 items")
    items: list[tuple[str, int | None]] = []
    for index, item in enumerate(raw_items):
        field = f"items[{index}]"
        if not isinstance(item, dict):
            raise Unprocessable(field, "must be an object")
        v.check_fields(item, ("asset_id", "duration_ms"), ("asset_id",), prefix=f"{field}.")
        asset_id = v.as_str(item["asset_id"], f"{field}.asset_id")
        duration = v.as_opt_int(
            item.get("duration_ms"), f"{field}.duration_ms", minimum=v.MIN_DURATION_MS
        )
        items.append((asset_id, duration))
    return name, items


class Playlists:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        def render(s: Session, rows: Sequence[Playlist]) -> list[dict[str, Any]]:
            items = repo.playlist_items(s, [p.id for p in rows])
            return [repo.playlist_json(p, items[p.id]) for p in rows]

        respond_with_page(self.deps, req, resp, Playlist, render)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        tenant_id = req.context.principal.tenant_id
        name, items = parse_playlist(http.read_json(req, self.deps.settings.max_json_bytes))
        now = self.deps.now()
        playlist = Playlist(
            id=repo.new_id("pl"),
            tenant_id=tenant_id,
            name=name,
            version=1,
            created_at=now,
            updated_at=now,
        )
        with self.deps.db.write() as s:
            s.add(playlist)
            s.flush()
            repo.set_playlist_items(s, tenant_id, playlist.id, items)
            repo.record_changes(
                s,
                tenant_id,
                [("playlist", playlist.id, False)],
                self.deps.settings.changelog_horizon_revisions,
            )
            s.flush()
            body = repo.playlist_json(playlist, repo.playlist_items(s, [playlist.id])[playlist.id])
        http.created(resp, "playlists", playlist.id)
        http.set_etag(resp, playlist.version)
        resp.media = body


class PlaylistItem:
    auth = "admin"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        with self.deps.db.read() as s:
            playlist = repo.get_playlist(s, req.context.principal.tenant_id, playlist_id)
            resp.media = repo.playlist_json(
                playlist, repo.playlist_items(s, [playlist.id])[playlist.id]
            )
            http.set_etag(resp, playlist.version)

    def on_put(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        name, items = parse_playlist(http.read_json(req, self.deps.settings.max_json_bytes))
        with self.deps.db.write() as s:
            playlist = repo.get_playlist(s, tenant_id, playlist_id, for_update=True)
            http.check_if_match(req, playlist.version)
            playlist.name = name
            playlist.version += 1
            playlist.updated_at = self.deps.now()
            repo.set_playlist_items(s, tenant_id, playlist.id, items)
            repo.record_changes(
                s,
                tenant_id,
                [("playlist", playlist.id, False)],
                self.deps.settings.changelog_horizon_revisions,
            )
            s.flush()
            resp.media = repo.playlist_json(
                playlist, repo.playlist_items(s, [playlist.id])[playlist.id]
            )
            http.set_etag(resp, playlist.version)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        tenant_id = req.context.principal.tenant_id
        with self.deps.db.write() as s:
            playlist = repo.get_playlist(s, tenant_id, playlist_id, for_update=True)
            http.check_if_match(req, playlist.version)
            if repo.playlist_scheduled(s, playlist.id):
                raise Conflict("a schedule uses this playlist", "playlist_in_use")
            repo.set_playlist_items(s, tenant_id, playlist.id, [])
            s.delete(playlist)
            repo.record_changes(
                s,
                tenant_id,
                [("playlist", playlist_id, True)],
                self.deps.settings.changelog_horizon_revisions,
            )
        resp.status = falcon.HTTP_204
