"""schemathesis hooks: generated requests get hostile values in place of their own.

Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS=<this file>``. In a
generated JSON body one leaf (or none) becomes a hostile value of the same
kind: strings become NUL, long, right-to-left or zero-width text, SQL or format
metacharacters; integers become huge; any leaf may become nesting deeper than
the API parses. Query and path strings get the strings a URL can carry (no lone surrogates, nothing
longer than a request line). The API must still answer with a documented
non-5xx status.

No lone surrogates here: schemathesis re-validates a changed body in its stateful
phase and crashes encoding one (UnicodeEncodeError inside schemathesis, not the
API). tests/robustness/api/test_hostile_json.py sends them (``"\\ud800"`` in JSON
text) to every JSON route instead.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

URL_STRINGS = [
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200d\ufeff",  # zero-width characters only
    "'; DROP TABLE devices; --",
    '" OR 1=1 --',
    "%s%n%x{0}{}${x}",
    "\\",
    "../../etc/passwd",
    "\U0001f600" * 50,
    "x" * 2000,
]
BODY_STRINGS = [*URL_STRINGS, "x" * 3000, "y" * 100_000]
HUGE_INTS = [2**31, 2**63, -(2**63) - 1, 2**64, 10**400]
# Past the API's nesting limit (32) and Python's default recursion depth for a
# naive recursive walk of the request, yet within what schemathesis itself walks.
DEEP = 300


def _deep() -> Any:
    value: Any = []
    for _ in range(DEEP):
        value = [value]
    return value


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    found = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _leaves(item, (*path, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(copy[head], rest, new)
    return copy


def _hostile_for(leaf: Any, strings: list[str]) -> st.SearchStrategy[Any]:
    if isinstance(leaf, str):
        return st.sampled_from(strings)
    if isinstance(leaf, bool):
        return st.nothing()
    if isinstance(leaf, int):
        return st.sampled_from(HUGE_INTS)
    return st.nothing()


def _mutations(value: Any, strings: list[str], *, deep: bool) -> st.SearchStrategy[Any]:
    options: list[st.SearchStrategy[Any]] = [st.just(value)]
    for path, leaf in _leaves(value):
        hostile = _hostile_for(leaf, strings)
        options.append(hostile.map(lambda new, p=path: _replaced(value, p, new)))
        if deep:  # built only when drawn
            options.append(st.builds(lambda p=path: _replaced(value, p, _deep())))
    return st.one_of(options)


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    if not isinstance(body, dict | list):
        return st.just(body)  # raw media bodies are bytes: left alone
    return _mutations(body, BODY_STRINGS, deep=True)


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    if not isinstance(query, dict) or not query:
        return st.just(query)
    return _mutations(query, URL_STRINGS, deep=False)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    if not isinstance(path_parameters, dict) or not path_parameters:
        return st.just(path_parameters)
    return _mutations(path_parameters, URL_STRINGS, deep=False)
