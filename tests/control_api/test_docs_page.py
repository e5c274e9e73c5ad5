"""GET /v1/docs: the rendered reference, public, every file served by the app itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from control_api.docs_page import REDOC_BUNDLE, REDOC_VERSION
from tests.control_api.conftest import Api

REPO = Path(__file__).resolve().parents[2]


class Links(HTMLParser):
    """Every URL the page names (src, href, spec-url...)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and "src" not in named:
            self.inline_scripts += 1
        for name, value in attrs:
            if value is not None and name in ("src", "href", "spec-url", "action", "srcset"):
                self.urls.append(value)


def test_the_page_is_public_html_with_a_strict_policy(api: Api) -> None:
    page = api.call("GET", "/v1/docs")  # no token
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"  # same-origin scripts only: no inline, no CDN
    assert policy["frame-ancestors"] == "'none'"
    assert "http" not in page.headers["Content-Security-Policy"]


def test_the_page_names_only_same_origin_urls_and_each_is_served(api: Api) -> None:
    links = Links()
    links.feed(api.call("GET", "/v1/docs").text)
    assert links.inline_scripts == 0
    assert sorted(links.urls) == ["/v1/docs/" + REDOC_BUNDLE, "/v1/openapi.json"]
    for url in links.urls:
        assert re.match(r"^/[^/\\]", url), url  # a path on this origin, not //host
        assert api.call("GET", url).status_code == 200, url


def test_the_bundle_is_javascript_cached_for_good(api: Api) -> None:
    bundle = api.call("GET", f"/v1/docs/{REDOC_BUNDLE}")
    assert bundle.status_code == 200
    assert bundle.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert bundle.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert f'Version: "{REDOC_VERSION}"' in bundle.text[:5000] or REDOC_VERSION in bundle.text
    assert len(bundle.content) > 500_000
    licence = api.call("GET", "/v1/docs/redoc-LICENSE.txt")
    assert licence.status_code == 200
    assert licence.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "MIT License" in licence.text


def test_other_names_are_404(api: Api) -> None:
    for name in ("docs.html", "..%2Fopenapi.py", "redoc.standalone.js.map", "nope"):
        answer = api.call("GET", f"/v1/docs/{name}")
        assert answer.status_code == 404, name
        assert answer.json["error"]["code"] == "not_found"


def test_the_wheel_carries_the_static_files() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^control_api = \[.*"static/\*"', pyproject, re.MULTILINE)
    static = REPO / "control_api" / "static"
    assert {p.name for p in static.iterdir()} >= {"docs.html", REDOC_BUNDLE, "redoc-LICENSE.txt"}
