"""The OpenAPI 3.1 document of protocol v1 (PROTOCOL.md), served at ``GET /v1/openapi.json``.

Schemas live once, under ``components``, generated from the structs the API
validates and encodes with (``control_api.models``); operations, written here,
only reference them.
"""

from __future__ import annotations

import copy
from typing import Any

from control_api import models
from control_api.core import validation as v
from control_api.core.media_content import CONTENT_TYPES
from control_api.core.validation import DEFAULT_LIMIT, MAX_LIMIT
from control_api.openapi_parts import ERRORS, TAGS, docs_paths, telemetry_schema

__all__ = ["build_openapi"]

JSON = "application/json"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _schemas() -> dict[str, Schema]:
    """The models' schemas, and Telemetry: an open object the server stores as sent
    (``openapi_parts.telemetry_schema`` describes what lomuz-player puts in it)."""
    return {**models.schema_components(), "Telemetry": telemetry_schema()}


def _responses_components() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (_status, description) in ERRORS.items():
        out[name] = {"description": description, "content": _json(_ref("Error"))}
    out["RangeNotSatisfiable"]["headers"] = {
        "Content-Range": {"schema": {"type": "string", "pattern": r"^bytes \*/[0-9]+$"}}
    }
    out["TooManyRequests"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    out["MediaCheckBusy"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    challenge = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    out["Unauthorized"]["headers"] = challenge
    out["MetricsUnauthorized"]["headers"] = challenge
    return out


def _errors(*names: str) -> dict[str, Any]:
    return {ERRORS[n][0]: {"$ref": f"#/components/responses/{n}"} for n in names}


def _ok(status: str, description: str, schema: str, headers: dict[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {"description": description, "content": _json(_ref(schema))}
    if headers:
        response["headers"] = headers
    return {status: response}


def _param(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> Any:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": _json(_ref(schema))}


ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
DEVICE: list[dict[str, list[str]]] = [{"deviceToken": []}]
EITHER: list[dict[str, list[str]]] = [{"adminToken": []}, {"deviceToken": []}]
_AUTH = ("Unauthorized", "Forbidden")
_JSON_IN = ("BadRequest", "BodyTimeout", "PayloadTooLarge", "UnsupportedMediaType", "Unprocessable")
_LIST_PARAMS = [
    _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        f"Page size, 1 to {MAX_LIMIT} (else 422); {DEFAULT_LIMIT} when absent.",
    ),
    _param(
        "after",
        "query",
        {"type": "string", "maxLength": 500},
        "The `next` value of the previous page.",
    ),
]
_LOCATION = {
    "Location": {
        "description": "The new object's path: /v1/<collection>/<id>.",
        "schema": {"type": "string"},
    }
}
_ETAG_VERSION = {
    "ETag": {
        "description": 'The object\'s version, quoted: "<version>".',
        "schema": {"type": "string"},
    }
}
_IF_MATCH = _param(
    "If-Match",
    "header",
    {"type": "string"},
    'The version last read, as "<version>" (a strong tag; a weak W/ tag never matches); '
    "412 if stale.",
)


def _collection(tag: str, list_schema: str, item: str, input_schema: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": [tag],
            "summary": f"List {tag.lower()}",
            "operationId": f"list{tag}",
            "security": ADMIN,
            "parameters": _LIST_PARAMS,
            "responses": {
                **_ok("200", "One page.", list_schema),
                **_errors("BadRequest", *_AUTH, "Unprocessable"),
            },
        },
        "post": {
            "tags": [tag],
            "summary": f"Create a {item.lower()}",
            "operationId": f"create{item}",
            "security": ADMIN,
            "requestBody": _body(input_schema),
            "responses": {
                **_ok(
                    "201",
                    "Created.",
                    "DeviceCreated" if item == "Device" else item,
                    _LOCATION if item == "Device" else _LOCATION | _ETAG_VERSION,
                ),
                **_errors(*_AUTH, *_JSON_IN, "NotFound"),
            },
        },
    }


def _paths() -> dict[str, Any]:
    id_param = _param("id", "path", {"type": "string"}, "Object id.")
    sha_param = _param("sha256", "path", {"type": "string"}, "The file's sha256 (lowercase hex).")
    paths: dict[str, Any] = {}

    assets_collection = _collection("Assets", "AssetList", "Asset", "AssetPatch")
    instant_q = {"type": "string", "format": "date-time"}
    assets_collection["post"] = {
        "tags": ["Assets"],
        "summary": "Upload a media file (streamed; deduplicated by sha256 within the tenant)",
        "operationId": "uploadAsset",
        "security": ADMIN,
        "parameters": [
            _param(
                "filename",
                "query",
                {"type": "string", "maxLength": v.MAX_FILENAME_CHARS},
                "Original file name (metadata only).",
            ),
            _param(
                "title",
                "query",
                {"type": "string", "maxLength": v.MAX_NAME_CHARS},
                "Title; defaults to the file name.",
            ),
            _param("emergency", "query", {"type": "boolean"}, "Emergency tier asset."),
            _param("valid_from", "query", instant_q, "Start of validity (RFC 3339)."),
            _param("valid_until", "query", instant_q, "End of validity, exclusive."),
        ],
        "requestBody": {
            "required": True,
            "description": (
                "The raw file. Content-Type must be an allowed audio/, video/ or image/"
                " subtype (image/svg+xml and wildcards are not; else 415"
                " unsupported_media_type, before anything is stored), and the bytes"
                " an allowed format of that type (else 415 unsupported_media_content)."
            ),
            # Every Content-Type the API accepts, concrete (the API refuses wildcards).
            "content": {
                f"{kind}/{subtype}": {"schema": {"type": "string", "format": "binary"}}
                for kind, subtypes in CONTENT_TYPES.items()
                for subtype in sorted(subtypes)
            },
        },
        "responses": {
            **_ok("200", "The same bytes were already an asset of the tenant.", "Asset"),
            **_ok("201", "Created.", "Asset", _LOCATION),
            **_errors(
                *_AUTH, "BadRequest", "BodyTimeout", "LengthRequired", "UploadTooLarge",
                "UploadRefused", "Unprocessable", "MediaCheckBusy",
            ),
        },
    }
    paths["/v1/assets"] = assets_collection
    paths["/v1/assets/{id}"] = {
        "parameters": [id_param],
        "get": {
            "tags": ["Assets"],
            "summary": "Get an asset",
            "operationId": "getAsset",
            "security": ADMIN,
            "responses": {**_ok("200", "The asset.", "Asset"), **_errors(*_AUTH, "NotFound")},
        },
        "patch": {
            "tags": ["Assets"],
            "summary": "Change an asset's metadata",
            "operationId": "patchAsset",
            "security": ADMIN,
            "requestBody": _body("AssetPatch"),
            "responses": {
                **_ok("200", "The updated asset.", "Asset"),
                **_errors(*_AUTH, *_JSON_IN, "NotFound"),
            },
        },
        "delete": {
            "tags": ["Assets"],
            "summary": "Delete an asset (409 asset_in_use while a playlist has it)",
            "operationId": "deleteAsset",
            "security": ADMIN,
            "responses": {
                "204": {"description": "Deleted."},
                **_errors(*_AUTH, "NotFound", "Conflict"),
            },
        },
    }

    paths["/v1/playlists"] = _collection("Playlists", "PlaylistList", "Playlist", "PlaylistInput")
    paths["/v1/playlists/{id}"] = _versioned("Playlists", "Playlist", "PlaylistInput", id_param)

    paths["/v1/devices"] = _collection("Devices", "DeviceList", "Device", "DeviceInput")
    paths["/v1/devices/{id}"] = {
        "parameters": [id_param],
        "get": {
            "tags": ["Devices"],
            "summary": "Get a device",
            "operationId": "getDevice",
            "security": ADMIN,
            "responses": {**_ok("200", "The device.", "Device"), **_errors(*_AUTH, "NotFound")},
        },
        "patch": {
            "tags": ["Devices"],
            "summary": "Change a device's name, time zone or groups",
            "operationId": "patchDevice",
            "security": ADMIN,
            "requestBody": _body("DevicePatch"),
            "responses": {
                **_ok("200", "The updated device.", "Device"),
                **_errors(*_AUTH, *_JSON_IN, "NotFound"),
            },
        },
        "delete": {
            "tags": ["Devices"],
            "summary": "Decommission the device",
            "description": (
                "Deletes the device. Its token gets 401 at once from the process that "
                "answered and within 1 s from every other API process; the device leaves "
                "GET /v1/devices; its plays are kept (GET /v1/plays?device_id= still lists "
                "them, CSV too). Its id is never given to another device. 409 "
                "`device_scheduled` while a schedule targets it by `device_id` (the "
                "message names them): delete or retarget those first."
            ),
            "operationId": "deleteDevice",
            "security": ADMIN,
            "responses": {
                "204": {"description": "Deleted."},
                **_errors(*_AUTH, "NotFound", "Conflict"),
            },
        },
    }
    paths["/v1/devices/{id}/enrollment-code"] = {
        "parameters": [id_param],
        "post": {
            "tags": ["Devices"],
            "summary": "A new one-time enrollment code; revokes the device's current token",
            "description": (
                "The device's current token gets 401 at once from the process that "
                "answered and within 1 s from every other API process."
            ),
            "operationId": "newEnrollmentCode",
            "security": ADMIN,
            "responses": {
                **_ok("201", "The new code (shown once).", "EnrollmentCode"),
                **_errors(*_AUTH, "NotFound"),
            },
        },
    }

    paths["/v1/schedules"] = _collection("Schedules", "ScheduleList", "Schedule", "ScheduleInput")
    paths["/v1/schedules/{id}"] = _versioned("Schedules", "Schedule", "ScheduleInput", id_param)

    paths["/v1/plays"] = {
        "get": {
            "tags": ["Proof of play"],
            "summary": "List plays (proof of play), JSON or CSV",
            "operationId": "listPlays",
            "security": ADMIN,
            "parameters": [
                _param("device_id", "query", _str(100), "Only this device's plays."),
                _param("asset_id", "query", _str(100), "Only this asset's plays."),
                _param("from", "query", instant_q, "Plays started at or after this instant."),
                _param("to", "query", instant_q, "Plays started before this instant."),
                *_LIST_PARAMS,
            ],
            "responses": {
                "200": {
                    "description": "One page of plays; CSV (same fields) with Accept: text/csv.",
                    "content": {
                        JSON: {"schema": _ref("PlayList")},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_errors("BadRequest", *_AUTH, "Unprocessable"),
            },
        }
    }

    paths["/v1/enroll"] = {
        "post": {
            "tags": ["Device"],
            "summary": "Trade a one-time enrollment code for a device token",
            "description": (
                "A code enrolls once: of concurrent requests with the same code exactly "
                "one gets 201. A valid, unused code always enrolls. A client address "
                "(behind LOMUZ_TRUSTED_PROXIES: the client they name) that sends "
                "LOMUZ_ENROLL_MAX_FAILURES bad codes within LOMUZ_ENROLL_LOCKOUT_S gets "
                "429 with Retry-After instead of 401 for its bad codes until the lockout "
                "ends; the count is shared by every API process."
            ),
            "operationId": "enroll",
            "security": [],
            "requestBody": _body("EnrollRequest"),
            "responses": {
                **_ok("201", "Enrolled; the token is shown once.", "Enrolled"),
                **_errors("Unauthorized", *_JSON_IN, "TooManyRequests"),
            },
        }
    }
    paths["/v1/device/manifest"] = {
        "get": {
            "tags": ["Device"],
            "summary": "The device's manifest: full, or a delta since a cursor",
            "operationId": "getManifest",
            "security": DEVICE,
            "parameters": [
                _param("since", "query", _str(200), "The cursor of the last manifest."),
                _param("If-None-Match", "header", {"type": "string"}, "The cursor, as an ETag."),
            ],
            "responses": {
                **_ok(
                    "200",
                    "A full snapshot or a delta since the cursor.",
                    "Manifest",
                    {"ETag": {"description": "The new cursor.", "schema": {"type": "string"}}},
                ),
                "304": {"description": "Nothing changed in the tenant since the cursor."},
                **_errors(*_AUTH, "Unprocessable"),
            },
        }
    }
    range_headers = {
        "ETag": {"schema": {"type": "string"}, "description": '"<sha256>"'},
        "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
        "Cache-Control": {"schema": {"type": "string"}},
    }
    media_params = [
        sha_param,
        _param("Range", "header", {"type": "string"}, "A single byte range, e.g. bytes=100-."),
        _param("If-Range", "header", {"type": "string"}, 'Honour Range only if it is "<sha256>".'),
        _param("If-None-Match", "header", {"type": "string"}, '304 when it matches "<sha256>".'),
    ]
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    media_responses = {
        "200": {"description": "The whole file.", "headers": range_headers, "content": binary},
        "206": {
            "description": "One range of the file.",
            "headers": {
                **range_headers,
                "Content-Range": {"schema": {"type": "string", "pattern": r"^bytes \d+-\d+/\d+$"}},
            },
            "content": binary,
        },
        "304": {"description": "Not modified (If-None-Match matched)."},
        **_errors(*_AUTH, "NotFound", "RangeNotSatisfiable"),
    }
    paths["/v1/media/{sha256}"] = {
        "parameters": media_params,
        "get": {
            "tags": ["Device"],
            "summary": "A media file of the caller's tenant (Range, If-Range, conditional)",
            "operationId": "getMedia",
            "security": EITHER,
            "responses": media_responses,
        },
        "head": {
            "tags": ["Device"],
            "summary": "A media file's headers, without the body",
            "operationId": "headMedia",
            "security": EITHER,
            "responses": {k: v for k, v in media_responses.items() if k != "206"},
        },
    }
    paths["/v1/device/telemetry"] = {
        "post": {
            "tags": ["Device"],
            "summary": "Report the device's status",
            "operationId": "postTelemetry",
            "security": DEVICE,
            "requestBody": _body("Telemetry"),
            "responses": {"204": {"description": "Stored."}, **_errors(*_AUTH, *_JSON_IN)},
        }
    }
    paths["/v1/device/plays"] = {
        "post": {
            "tags": ["Device"],
            "summary": "Upload plays (idempotent by play id)",
            "operationId": "postPlays",
            "security": DEVICE,
            "requestBody": _body("PlaysUpload"),
            "responses": {
                **_ok("200", "How many were new and how many already known.", "PlaysAccepted"),
                **_errors(*_AUTH, *_JSON_IN),
            },
        }
    }

    paths["/healthz"] = {
        "get": {
            "tags": ["Operations"],
            "summary": "Health: the database answers",
            "operationId": "health",
            "security": [],
            "responses": {
                **_ok("200", "The database answers.", "Health"),
                **_errors("Unavailable"),
            },
        },
        "head": {
            "tags": ["Operations"],
            "operationId": "healthHead",
            "summary": "The same answer as GET, without a body (load balancers)",
            "security": [],
            "responses": {
                "200": {"description": "The database answers."},
                **_errors("Unavailable"),
            },
        },
    }
    paths["/metrics"] = {
        "get": {
            "tags": ["Operations"],
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "description": (
                "All tenants' counts: it needs LOMUZ_METRICS_TOKEN as a bearer token "
                "(403 while the server has none set)."
            ),
            "security": [{"metricsToken": []}],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_errors("MetricsUnauthorized", "MetricsOff"),
            },
        }
    }
    paths["/v1/openapi.json"] = {
        "get": {
            "tags": ["Operations"],
            "summary": "This OpenAPI document",
            "operationId": "openapi",
            "security": [],
            "responses": {
                "200": {"description": "This document.", "content": _json({"type": "object"})}
            },
        }
    }
    paths.update(docs_paths())
    return paths


def _str(max_chars: int) -> Schema:
    return {"type": "string", "maxLength": max_chars}


def _versioned(tag: str, item: str, input_schema: str, id_param: Any) -> dict[str, Any]:
    lower = item.lower()
    return {
        "parameters": [id_param],
        "get": {
            "tags": [tag],
            "summary": f"Get a {lower} (ETag: its version)",
            "operationId": f"get{item}",
            "security": ADMIN,
            "responses": {
                **_ok("200", f"The {lower}.", item, _ETAG_VERSION),
                **_errors(*_AUTH, "NotFound"),
            },
        },
        "put": {
            "tags": [tag],
            "summary": f"Replace the {lower} (optimistic concurrency with If-Match)",
            "operationId": f"replace{item}",
            "security": ADMIN,
            "parameters": [_IF_MATCH],
            "requestBody": _body(input_schema),
            "responses": {
                **_ok("200", f"The new {lower}.", item, _ETAG_VERSION),
                **_errors(*_AUTH, *_JSON_IN, "NotFound", "PreconditionFailed"),
            },
        },
        "delete": {
            "tags": [tag],
            "summary": f"Delete a {lower} (If-Match as for PUT)",
            "operationId": f"delete{item}",
            "security": ADMIN,
            "parameters": [_IF_MATCH],
            "responses": {
                "204": {"description": "Deleted."},
                **_errors(*_AUTH, "NotFound", "Conflict", "PreconditionFailed"),
            },
        },
    }


def build_openapi() -> dict[str, Any]:
    """A fresh OpenAPI 3.1 document of protocol v1 (the caller may mutate it)."""
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Lomuz control API",
            "version": "1",
            "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"},
            "description": (
                "Director and device endpoints of Lomuz protocol v1. Errors are "
                '{"error": {"code", "message"}} with the matching status.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": ADMIN,
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _responses_components(),
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A tenant's admin token (lomuz-control tenant create).",
                },
                "deviceToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A device token from POST /v1/enroll.",
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The server's LOMUZ_METRICS_TOKEN (Prometheus scrapes).",
                },
            },
        },
    }
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].update(_errors("InternalError"))
    # Shared building blocks (ADMIN, _LIST_PARAMS...) must not leak to callers.
    return copy.deepcopy(document)
