"""The panel's Plays section: plays per day, the top assets and devices of a range of
UTC days (charts and tables), and the range's plays as a CSV file. Reads only."""

from __future__ import annotations

from typing import Any

import falcon

from control_api.deps import Deps
from control_api.panel import play_views as views
from control_api.panel.forms import query_text, signed_in
from control_api.panel.templates import PAGE_CACHE, Pages
from control_api.services import plays

TOP = 10  # assets and devices shown per chart


def _range(req: falcon.Request, deps: Deps) -> views.DayRange:
    return views.day_range(query_text(req, "from"), query_text(req, "to"), deps.now())


class PlaysPage:
    """``GET /plays?from=&to=``: the counts of the range (default: the last 7 UTC days)."""

    auth = "session"

    def __init__(self, deps: Deps, pages: Pages) -> None:
        self.deps, self.pages = deps, pages

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        days = _range(req, self.deps)
        counts = plays.count_plays(
            self.deps.db, signed_in(req).tenant_id, days.first, days.last, TOP
        )
        context = {
            "days": days,
            "counts": counts,
            "per_day": views.day_chart(counts.per_day),
            "assets": views.top_chart(counts.top_assets),
            "devices": views.top_chart(counts.top_devices),
            "views": views,
            "top": TOP,
        }
        self.pages.render(req, resp, "plays.html", context)


class PlaysCsv:
    """``GET /plays.csv?from=&to=``: every play of the range, oldest first, with the
    asset's title and the device's name beside the ids; streamed page by page."""

    auth = "session"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        days = _range(req, self.deps)
        pages = plays.export_named_plays(
            self.deps.db, signed_in(req).tenant_id, days.first, days.last
        )
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = days.csv_filename()
        resp.cache_control = [PAGE_CACHE]
        resp.stream = views.csv_chunks(pages)


def add_play_routes(app: Any, deps: Deps, pages: Pages) -> None:
    app.add_route("/plays", PlaysPage(deps, pages))
    app.add_route("/plays.csv", PlaysCsv(deps))
