"""A tiny HTML tree (stdlib html.parser) for structural assertions on panel pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Element | str] = field(default_factory=list)

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str, **attrs: str) -> list[Element]:
        """Descendants named ``tag`` whose attributes include ``attrs`` (``class_`` for
        one of the classes)."""
        found = []
        for e in self.iter():
            if e.tag != tag:
                continue
            wanted = dict(attrs)
            klass = wanted.pop("class_", None)
            if klass is not None and klass not in (e.attrs.get("class") or "").split():
                continue
            if all(e.attrs.get(k.replace("_", "-")) == v for k, v in wanted.items()):
                found.append(e)
        return found

    def find(self, tag: str, **attrs: str) -> Element:
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root")
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(markup: str) -> Element:
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    return builder.root


def table_rows(page: Element, table_class: str) -> list[dict[str, str]]:
    """Each body row of the table as {data-label: cell text}, plus its data-* attributes."""
    table = page.find("table", class_=table_class)
    rows = []
    for tr in table.find("tbody").find_all("tr"):
        row = {k: v or "" for k, v in tr.attrs.items() if k.startswith("data-")}
        for td in tr.find_all("td"):
            row[str(td.attrs.get("data-label"))] = td.text()
        rows.append(row)
    return rows
