"""The panel's frame: vendored files served by the app, pages escaped and framed."""

from __future__ import annotations

import falcon
import falcon.testing
import pytest

from control_api.panel.director import Director, role_allows
from control_api.panel.static_files import static_url
from control_api.panel.templates import Pages, environment
from tests.control_api.conftest import Api


def test_vendored_files_are_served_with_a_year_of_cache(api: Api) -> None:
    url = static_url("htmx-2.0.11.min.js")
    answer = api.client.simulate_get(url.split("?")[0])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert "immutable" in answer.headers["cache-control"]
    assert b"htmx" in answer.content


@pytest.mark.parametrize("name", ["nope.js", "..%2Fpanel.css", "templates.py", "base.html"])
def test_only_vendored_files_are_served(api: Api, name: str) -> None:
    assert api.client.simulate_get(f"/panel/static/{name}").status_code == 404


def test_static_url_changes_with_the_bytes() -> None:
    assert static_url("panel.css").startswith("/panel/static/panel.css?v=")


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "editor")
    assert role_allows("editor", "editor")
    assert not role_allows("viewer", "editor")
    assert not role_allows("editor", "admin")


class _Page:
    def __init__(self, pages: Pages) -> None:
        self.pages = pages

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.director = Director("u1", "t1", "<b>a@x</b>", "viewer", "tok'en")
        self.pages.render(req, resp, "base.html")


def test_a_page_escapes_what_it_shows_and_forbids_framing() -> None:
    app = falcon.App()
    app.add_route("/p", _Page(Pages(environment())))
    answer = falcon.testing.TestClient(app).simulate_get("/p")
    assert "&lt;b&gt;a@x&lt;/b&gt;" in answer.text
    assert "<b>a@x</b>" not in answer.text
    assert 'name="csrf_token" value="tok&#39;en"' in answer.text
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
