"""How a refused manifest is worded: a ManifestError naming the path, the value, the rule."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import msgspec
from msgspec import Struct
from msgspec import inspect as msgspec_inspect

from player.errors import ManifestError
from player.wire.structs import (
    _W,
    MAX_WIRE_INT,
)

# --- Error wording -----------------------------------------------------------


def _show(value: object) -> str:
    """A short JSON rendering of a bad value for an error message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the message must stay storable text
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = f"<{_type_name(value)}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _got(value: object) -> str:
    return _show(value) if isinstance(value, str | int | float) else _type_name(value)


def _wrong(path: str, expected: str, value: object) -> ManifestError:
    return ManifestError(f"must be {expected}, got {_got(value)}", path)


def _check_unicode(value: str, path: str) -> None:
    """Refuse lone surrogates (``"\\ud800"`` is valid JSON but not encodable text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ManifestError(
            f"is not valid Unicode text (lone surrogate at character {exc.start})", path
        ) from exc


def _check_int(value: object, path: str, minimum: int | None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise ManifestError(f"must be >= {minimum}, got {_show(value)}", path)
    if maximum is not None and value > maximum:
        raise ManifestError(f"must be <= {maximum}, got {_show(value)}", path)
    if not -MAX_WIRE_INT <= value <= MAX_WIRE_INT:
        raise ManifestError(f"must fit in 64 bits, got {_show(value)}", path)
    return value


_AT = re.compile(r"(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]*)`")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_VALUE = object()


def _steps(msgspec_path: str) -> list[str | int]:
    """``.assets[3].sha256`` (msgspec's path after ``$``) as ``["assets", 3, "sha256"]``."""
    return [int(index) if index else key for key, index in _STEP.findall(msgspec_path)]


def _dotted(steps: Sequence[str | int]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f"{out and '.'}{step}")
    return out


def _value_at(data: object, steps: Sequence[str | int]) -> object:
    for step in steps:
        in_list = isinstance(step, int) and isinstance(data, list) and step < len(data)
        in_object = isinstance(step, str) and isinstance(data, dict) and step in data
        if not (in_list or in_object):
            return _MISSING_VALUE
        data = data[step]  # type: ignore[index]
    return data


def _unwrap(declared: Any) -> tuple[Any, str | None]:
    """A declared type without its ``| None`` and ``Meta``, and its description."""
    description: str | None = None
    t = msgspec_inspect
    if isinstance(declared, t.UnionType):
        useful = [member for member in declared.types if not isinstance(member, t.NoneType)]
        declared = useful[0] if len(useful) == 1 else declared
    if isinstance(declared, t.Metadata):
        description = (declared.extra_json_schema or {}).get("description")
        declared = declared.type
    return declared, description


def _declared_at(root: type[Struct], steps: Sequence[str | int]) -> tuple[Any, str | None]:
    """The declared msgspec type at ``steps`` under ``root``, and its description."""
    declared, description = _unwrap(msgspec_inspect.type_info(root))
    for step in steps:
        if isinstance(step, int) and isinstance(declared, msgspec_inspect.ListType):
            declared, description = _unwrap(declared.item_type)
        elif isinstance(step, str) and isinstance(declared, msgspec_inspect.StructType):
            fields = {f.encode_name: f.type for f in declared.fields}
            declared, description = _unwrap(fields.get(step, msgspec_inspect.AnyType()))
        else:
            return msgspec_inspect.AnyType(), None
    return declared, description


def _complaint(declared: Any, description: str | None, value: object, detail: str) -> str:
    """What is wrong with ``value`` given its declared type, in this module's words."""
    t = msgspec_inspect
    if value is _MISSING_VALUE:  # the generic parse could not find it: msgspec's words
        return f"is invalid: {detail}"
    if description is not None:
        return f"must be {description}, got {_got(value)}"
    if isinstance(declared, t.IntType):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {_got(value)}"
        if declared.ge is not None and value < declared.ge:
            return f"must be >= {declared.ge}, got {_show(value)}"
        if declared.le is not None and value > declared.le:
            return f"must be <= {declared.le}, got {_show(value)}"
    elif isinstance(declared, t.StrType):
        if not isinstance(value, str):
            return f"must be a string, got {_got(value)}"
        if declared.min_length and len(value) < declared.min_length:
            return "must not be empty"
    elif isinstance(declared, t.BoolType):
        return f"must be true or false, got {_got(value)}"
    elif isinstance(declared, t.EnumType):
        allowed = ", ".join(m.value for m in declared.cls)
        return f"must be one of {allowed}, got {_got(value)}"
    elif isinstance(declared, t.ListType):
        return f"must be an array, got {_got(value)}"
    elif isinstance(declared, t.StructType):
        return f"must be an object, got {_got(value)}"
    return f"is invalid: {detail}"


def _explain(
    exc: msgspec.ValidationError, root: type[Struct], data: object, prefix: Sequence[str | int]
) -> ManifestError:
    """A msgspec validation error as a ``ManifestError`` naming the field and the value."""
    match = _AT.fullmatch(str(exc))
    assert match is not None  # the pattern matches any text
    steps = _steps(match["path"] or "")
    missing = _MISSING.fullmatch(match["what"])
    if missing:
        return ManifestError("is missing", _dotted([*prefix, *steps, missing["field"]]))
    value = _value_at(data, steps)
    declared, description = _declared_at(root, steps)
    message = _complaint(declared, description, value, match["what"])
    path = _dotted([*prefix, *steps])
    if not path:
        return ManifestError(f"manifest {message}")
    return ManifestError(message, path)


def _convert(data: object, root: type[_W], prefix: Sequence[str | int]) -> _W:
    """``data`` (generic JSON values) validated into ``root``, or a ``ManifestError``."""
    _check_texts(data, msgspec_inspect.type_info(root), _dotted(prefix))
    try:
        return msgspec.convert(data, root)
    except msgspec.ValidationError as exc:
        raise _explain(exc, root, data, prefix) from exc


def _check_texts(data: object, declared: Any, path: str) -> None:
    """Refuse a lone surrogate in any string of ``data`` where ``declared`` expects one.

    The slow path only, before ``msgspec.convert`` (which cannot encode such a
    string); fields the structs do not declare are ignored, as everywhere.
    """
    declared, _ = _unwrap(declared)
    if isinstance(declared, msgspec_inspect.AnyType):  # not read here (a full manifest's "deleted")
        return
    if isinstance(data, str):
        _check_unicode(data, path)
    elif isinstance(data, list) and isinstance(declared, msgspec_inspect.ListType):
        for i, item in enumerate(data):
            _check_texts(item, declared.item_type, f"{path}[{i}]")
    elif isinstance(data, dict) and isinstance(declared, msgspec_inspect.StructType):
        for field in declared.fields:
            if field.encode_name in data:
                at = f"{path}.{field.encode_name}" if path else field.encode_name
                _check_texts(data[field.encode_name], field.type, at)
