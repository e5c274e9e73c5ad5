"""The panel's Media section: the library (search, pages), uploads with per-file
progress (``static/panel-upload.js``), an asset's page (preview, edit, delete).
Each handler calls the use cases the JSON API calls: an upload here goes through
``services.assets.upload`` exactly as ``POST /v1/assets`` does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import falcon

from control_api import http
from control_api.core import validation as v
from control_api.deps import Deps
from control_api.errors import Conflict
from control_api.media_http import serve_media
from control_api.panel import media_views as views
from control_api.panel.forms import query_text, read_form, signed_in
from control_api.panel.templates import Pages
from control_api.services import assets

PAGE_SIZE = 50
MAX_CURSOR_CHARS = 500
# ?done= after a redirect: fixed messages only (a link must not put words on the page).
NOTICES = {"deleted": "The asset was deleted.", "saved": "Saved."}


@dataclass(frozen=True)
class LibraryQuery:
    """``GET /media?q=&after=``, checked."""

    text: str = ""
    after: str = ""

    def url(self, **changes: str) -> str:
        values = {"q": self.text, "after": self.after} | changes
        kept = {k: val for k, val in values.items() if val}
        return "/media" + (f"?{urlencode(kept)}" if kept else "")


class LibraryPage:
    """``GET /media``: the tenant's assets, searched by title or file name, paged;
    an editor also gets the upload drop zone."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        director = signed_in(req)
        query = LibraryQuery(
            text=query_text(req, "q", v.MAX_NAME_CHARS),
            after=query_text(req, "after", MAX_CURSOR_CHARS),
        )
        page = assets.list_assets(
            self.deps.db, director.tenant_id, PAGE_SIZE, query.after or None, text=query.text
        )
        partial = (
            req.get_header("HX-Request") == "true"
            and req.get_header("HX-History-Restore-Request") != "true"
        )
        resp.vary = ["HX-Request"]
        context = {
            "query": query,
            "assets": page.items,
            "next": page.next,
            "views": views,
            "may_change": director.may("editor"),
            "max_upload_bytes": self.deps.settings.max_upload_bytes,
            "notice": NOTICES.get(query_text(req, "done", 20), ""),
        }
        self.pages.render(req, resp, "media_table.html" if partial else "media.html", context)


class UploadAction:
    """``POST /media/upload?filename=`` (editor): the file as the raw body, its type as
    Content-Type, the CSRF token as ``X-CSRF-Token`` (sent by ``panel-upload.js``).
    201 "added" or 200 "already in the library" as a small fragment; a refusal is the
    API's error (415, 413, 422, ...) with its message, as the panel's error page."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        kind = assets.upload_kind(req.content_type)
        http.check_params(req, ("filename",))
        filename = http.str_param(req, "filename", v.MAX_FILENAME_CHARS)
        settings = self.deps.settings
        uploaded = assets.upload(
            self.deps.db,
            self.deps.media,
            signed_in(req).tenant_id,
            kind,
            assets.AssetFields(filename=filename or None),
            body=lambda: http.body_stream(req),
            now=self.deps.now(),
            limits=assets.UploadLimits(settings.max_upload_bytes, settings.tenant_quota_bytes),
            keep_revisions=settings.changelog_horizon_revisions,
        )
        if uploaded.created:
            self.deps.wake_measurer()
        context = {"asset": uploaded.asset, "created": uploaded.created}
        status = falcon.HTTP_201 if uploaded.created else falcon.HTTP_200
        self.pages.render(req, resp, "media_uploaded.html", context, status=status)


class AssetPage:
    """``GET /media/{id}``: the preview, the facts, the edit form and the delete step.
    Another tenant's asset, or none, is the 404 page (``NotFound`` from the service)."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        notice = NOTICES.get(query_text(req, "done", 20), "")
        self.render(req, resp, asset_id, notice=notice)

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        asset_id: str,
        *,
        status: str = falcon.HTTP_200,
        **extra: Any,
    ) -> None:
        director = signed_in(req)
        asset = assets.get_asset(self.deps.db, director.tenant_id, asset_id)
        context = {
            "asset": asset,
            "views": views,
            "may_change": director.may("editor"),
            "form": None,  # the values typed, when the edit was refused
            "problems": {},
            "confirm": False,
            "used_by": [],
            "refusal": None,
            "notice": "",
        }
        self.pages.render(req, resp, "media_item.html", context | extra, status=status)

    def on_post(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        """The edit form (editor): title, validity window (UTC), emergency."""
        form = read_form(req, self.deps.settings.max_json_bytes)
        changes, problems = views.asset_changes(form)
        tenant = signed_in(req).tenant_id
        if problems:
            assets.get_asset(self.deps.db, tenant, asset_id)  # another tenant's: 404
            self.render(req, resp, asset_id, status=falcon.HTTP_422, form=form, problems=problems)
            return
        assets.edit_asset(
            self.deps.db,
            tenant,
            asset_id,
            changes,
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        resp.status = falcon.HTTP_303
        resp.location = f"/media/{asset_id}?done=saved"


class DeleteAction:
    """``POST /media/{id}/delete`` (editor): without ``confirm=yes`` the page asks first
    (and names the playlists that still use the asset); with it the asset goes, unless a
    playlist uses it (409: the page names them)."""

    auth = "session"

    def __init__(self, deps: Deps, page: AssetPage) -> None:
        self.deps, self.page = deps, page

    def on_post(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        tenant = signed_in(req).tenant_id
        if read_form(req, self.deps.settings.max_json_bytes).get("confirm") != "yes":
            used_by = assets.playlists_using(self.deps.db, tenant, asset_id)
            self.page.render(req, resp, asset_id, confirm=True, used_by=used_by)
            return
        try:
            assets.delete_asset(
                self.deps.db,
                self.deps.media,
                tenant,
                asset_id,
                self.deps.settings.changelog_horizon_revisions,
            )
        except Conflict as busy:
            used_by = assets.playlists_using(self.deps.db, tenant, asset_id)
            self.page.render(
                req, resp, asset_id, status=falcon.HTTP_409, refusal=busy.message, used_by=used_by
            )
            return
        resp.status = falcon.HTTP_303
        resp.location = "/media?done=deleted"


class AssetFile:
    """``GET /media/{id}/file``: the stored bytes for the preview, streamed with Range
    (``media_http``, what ``/v1/media/{sha256}`` uses), for a signed-in director."""

    auth = "session"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        asset = assets.get_asset(self.deps.db, signed_in(req).tenant_id, asset_id)
        path = self.deps.media.path_for(asset.sha256)
        # An asset's bytes never change: media_http's private, immutable caching holds.
        serve_media(req, resp, path, asset.sha256, asset.size_bytes, asset.content_type)

    on_head = on_get


def add_media_routes(app: Any, deps: Deps, pages: Pages) -> None:
    page = AssetPage(deps, pages)
    app.add_route("/media", LibraryPage(deps, pages))
    app.add_route("/media/upload", UploadAction(deps, pages))
    app.add_route("/media/{asset_id}", page)
    app.add_route("/media/{asset_id}/file", AssetFile(deps))
    app.add_route("/media/{asset_id}/delete", DeleteAction(deps, page))
