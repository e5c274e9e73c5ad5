"""Paths into a JSON document, for the suites that break manifests on purpose."""

from __future__ import annotations

from typing import Any

Path = tuple[Any, ...]


def paths(node: Any, prefix: Path = ()) -> list[Path]:
    """Every key/index path in ``node``, parents before children."""
    out: list[Path] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(paths(value, (*prefix, i)))
    return out


def parent(doc: Any, path: Path) -> Any:
    """The container holding ``path``'s last key."""
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node
