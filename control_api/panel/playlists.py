"""The panel's Playlists section: the list (and creating one), the editor (order by drag
and drop or Move up/down, add from the library, per-item durations, the total
length), saving with the version the editor was loaded at, deleting.

A save that meets a newer version (someone else saved meanwhile) overwrites
nothing: the editor stays as it was, with "Changed by someone else — reload".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import falcon

from control_api.core.validation import MAX_NAME_CHARS
from control_api.deps import Deps
from control_api.errors import Conflict, InvalidField, VersionMismatch
from control_api.panel import playlist_views as views
from control_api.panel.director import Director
from control_api.panel.forms import query_text, read_form, signed_in
from control_api.panel.templates import Pages
from control_api.resources import bodies
from control_api.services import assets, playlists
from control_api.services.playlists import PlaylistRecord

PAGE_SIZE = 50
LIBRARY_SIZE = 20
MAX_CURSOR_CHARS = 500
NOTICES = {
    "saved": "Saved.",
    "created": "The playlist was created: add items from the library below.",
    "deleted": "The playlist was deleted.",
}
CONFLICT_MESSAGE = "Changed by someone else — reload"


def _facts(deps: Deps, tenant_id: str, asset_ids: set[str]) -> dict[str, views.AssetFacts]:
    found = assets.assets_by_id(deps.db, tenant_id, asset_ids)
    return {
        a.id: views.AssetFacts(a.title or a.filename or a.id, a.media_type, a.duration_ms)
        for a in found.values()
    }


def _draft(record: PlaylistRecord) -> views.Draft:
    items = tuple(
        views.DraftItem(i.asset_id, views.seconds_text(i.duration_ms)) for i in record.items
    )
    return views.Draft(record.playlist.name, record.version, items)


def _checked(draft: views.Draft) -> tuple[str, list[tuple[str, int | None]]]:
    """The name and items as the JSON API would take them (the same checks, the same
    field names)."""
    items = views.saved_items(draft)
    body = {
        "name": draft.name,
        "items": [{"asset_id": a} | ({} if d is None else {"duration_ms": d}) for a, d in items],
    }
    return bodies.playlist(body)


class PlaylistsPage:
    """``GET /playlists``: the tenant's playlists, paged; ``POST``: a new one (editor)."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp)

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        *,
        status: str = falcon.HTTP_200,
        **extra: Any,
    ) -> None:
        director = signed_in(req)
        after = query_text(req, "after", MAX_CURSOR_CHARS)
        page = playlists.list_playlist_summaries(
            self.deps.db, director.tenant_id, PAGE_SIZE, after or None
        )
        rows = []
        for summary in page.items:
            lengths = [
                views.play_length_ms(
                    views.AssetFacts("", i.media_type, i.asset_duration_ms), i.duration_ms
                )
                for i in summary.items
            ]
            rows.append((summary, views.total_length(lengths)))
        context = {
            "rows": rows,
            "after": after,
            "next_url": f"/playlists?{urlencode({'after': page.next})}" if page.next else "",
            "may_change": director.may("editor"),
            "notice": NOTICES.get(query_text(req, "done", 20), ""),
            "error": None,
            "name": "",
            "views": views,
        }
        self.pages.render(req, resp, "playlists.html", context | extra, status=status)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        name = read_form(req, self.deps.settings.max_json_bytes).get("name", "")
        try:
            checked_name, _ = bodies.playlist({"name": name[: MAX_NAME_CHARS + 1], "items": []})
        except InvalidField as bad:
            self.render(
                req, resp, status=falcon.HTTP_422, error=bad.message, name=name[:MAX_NAME_CHARS]
            )
            return
        record = playlists.create_playlist(
            self.deps.db,
            signed_in(req).tenant_id,
            checked_name.strip(),
            [],
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        resp.status = falcon.HTTP_303
        resp.location = f"/playlists/{record.playlist.id}?done=created"


class PlaylistPage:
    """``GET /playlists/{id}``: the editor. ``POST``: an editor button (Move up/down,
    Remove, Add: the editor again, not saved yet; Save: saved, or why not)."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        record = playlists.get_playlist(self.deps.db, signed_in(req).tenant_id, playlist_id)
        query = query_text(req, "q", views.MAX_QUERY_CHARS)
        notice = NOTICES.get(query_text(req, "done", 20), "")
        self.render(req, resp, playlist_id, _draft(record), query=query, notice=notice)

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        playlist_id: str,
        draft: views.Draft,
        *,
        query: str = "",
        status: str = falcon.HTTP_200,
        **extra: Any,
    ) -> None:
        director = signed_in(req)
        facts = _facts(self.deps, director.tenant_id, {i.asset_id for i in draft.items})
        rows, total = views.item_rows(draft, facts)
        context = {
            "playlist_id": playlist_id,
            "draft": draft,
            "rows": rows,
            "total": total,
            "views": views,
            "may_change": director.may("editor"),
            "query": query,
            "library": library_page(self.deps, director, query),
            "notice": "",
            "error": None,
            "conflict": False,
            "confirm": False,
            "unsaved": False,
        }
        self.pages.render(req, resp, "playlist.html", context | extra, status=status)

    def on_post(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        tenant_id = signed_in(req).tenant_id
        form = read_form(req, self.deps.settings.max_json_bytes)
        current = playlists.get_playlist(self.deps.db, tenant_id, playlist_id)  # 404 first
        query = form.get("q", "")[: views.MAX_QUERY_CHARS].strip()
        try:
            draft = views.draft_from_form(form)
        except InvalidField as bad:
            self.render(
                req, resp, playlist_id, _draft(current), query=query,
                status=falcon.HTTP_422, error=bad.message,
            )  # fmt: skip
            return
        try:
            if "save" in form:
                self._save(resp, tenant_id, playlist_id, draft)
                return
            draft = self._edited(tenant_id, draft, form)
        except InvalidField as bad:
            self.render(
                req, resp, playlist_id, draft, query=query, status=falcon.HTTP_422,
                error=bad.message, unsaved=True,
            )  # fmt: skip
            return
        except VersionMismatch:
            self.render(
                req, resp, playlist_id, draft, query=query, status=falcon.HTTP_412,
                conflict=True, unsaved=True,
            )  # fmt: skip
            return
        self.render(req, resp, playlist_id, draft, query=query, unsaved=True)

    def _edited(self, tenant_id: str, draft: views.Draft, form: dict[str, str]) -> views.Draft:
        for action in ("up", "down", "remove"):
            if action in form:
                key = form[action]
                keys = list(_item_keys(form))
                return views.moved(draft, action, keys.index(key) if key in keys else -1)
        if "add" in form:
            asset_id = form["add"]
            if asset_id not in assets.assets_by_id(self.deps.db, tenant_id, [asset_id]):
                raise InvalidField("add", "no such asset in the library")
            return views.Draft(draft.name, draft.version, (*draft.items, views.DraftItem(asset_id)))
        return draft

    def _save(
        self, resp: falcon.Response, tenant_id: str, playlist_id: str, draft: views.Draft
    ) -> None:
        name, items = _checked(draft)
        playlists.replace_playlist(
            self.deps.db,
            tenant_id,
            playlist_id,
            name.strip(),
            items,
            if_match=f'"{draft.version}"',
            now=self.deps.now(),
            keep_revisions=self.deps.settings.changelog_horizon_revisions,
        )
        resp.status = falcon.HTTP_303
        resp.location = f"/playlists/{playlist_id}?done=saved"


def _item_keys(form: dict[str, str]) -> Sequence[str]:
    """The rows' keys in posted order."""
    found = (views.ITEM_ASSET.fullmatch(name) for name in form)
    return [m.group(1) for m in found if m is not None]


def library_page(deps: Deps, director: Director, query: str) -> Any:
    return assets.list_assets(deps.db, director.tenant_id, LIBRARY_SIZE, None, text=query or None)


class LibraryFragment:
    """``GET /playlists/{id}/library?q=``: the library's matching assets (the editor's
    search swaps them in; each Add button submits the editor)."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        director = signed_in(req)
        playlists.get_playlist(self.deps.db, director.tenant_id, playlist_id)  # 404 first
        query = query_text(req, "q", views.MAX_QUERY_CHARS)
        context = {
            "playlist_id": playlist_id,
            "query": query,
            "library": library_page(self.deps, director, query),
            "may_change": director.may("editor"),
        }
        self.pages.render(req, resp, "playlist_library.html", context)


class DeleteAction:
    """``POST /playlists/{id}/delete`` (editor): without ``confirm=yes`` the editor asks
    first; the API's refusal (a schedule uses it) is shown on the editor."""

    auth = "session"

    def __init__(self, deps: Deps, page: PlaylistPage) -> None:
        self.deps, self.page = deps, page

    def on_post(self, req: falcon.Request, resp: falcon.Response, playlist_id: str) -> None:
        tenant_id = signed_in(req).tenant_id
        form = read_form(req, self.deps.settings.max_json_bytes)
        record = playlists.get_playlist(self.deps.db, tenant_id, playlist_id)
        if form.get("confirm") != "yes":
            self.page.render(req, resp, playlist_id, _draft(record), confirm=True)
            return
        version = form.get("version", "")[:12]
        try:
            playlists.delete_playlist(
                self.deps.db,
                tenant_id,
                playlist_id,
                if_match=f'"{version}"',
                keep_revisions=self.deps.settings.changelog_horizon_revisions,
                now=self.deps.now(),
            )
        except VersionMismatch:
            self.page.render(
                req, resp, playlist_id, _draft(record), status=falcon.HTTP_412, conflict=True
            )
            return
        except Conflict as busy:
            refusal = f"Not deleted: {busy.message}. Remove or change that schedule first."
            self.page.render(
                req, resp, playlist_id, _draft(record), status=falcon.HTTP_409, error=refusal
            )
            return
        resp.status = falcon.HTTP_303
        resp.location = "/playlists?done=deleted"


def add_playlist_routes(app: Any, deps: Deps, pages: Pages) -> None:
    page = PlaylistPage(deps, pages)
    app.add_route("/playlists", PlaylistsPage(deps, pages))
    app.add_route("/playlists/{playlist_id}", page)
    app.add_route("/playlists/{playlist_id}/library", LibraryFragment(deps, pages))
    app.add_route("/playlists/{playlist_id}/delete", DeleteAction(deps, page))
