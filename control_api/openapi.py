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
from control_api.openapi_commands import commands_paths
from control_api.openapi_overrides import override_paths
from control_api.openapi_parts import (
    ADMIN,
    AUTH,
    DEVICE,
    EITHER,
    ETAG_VERSION,
    IF_MATCH,
    JSON,
    JSON_IN,
    LIST_PARAMS,
    LOCATION,
    TAGS,
    Schema,
    body,
    docs_paths,
    errors,
    ok,
    ops_paths,
    param,
    ref,
    responses_components,
    string,
    telemetry_schema,
)
from control_api.openapi_presence import presence_paths
from control_api.openapi_webhooks import webhooks_paths

__all__ = ["build_openapi"]


def _schemas() -> dict[str, Schema]:
    """The models' schemas, and Telemetry: an open object the server stores as sent
    (``openapi_parts.telemetry_schema`` describes what lomuz-player puts in it)."""
    return {**models.schema_components(), "Telemetry": telemetry_schema()}


def _collection(tag: str, list_schema: str, item: str, input_schema: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": [tag],
            "summary": f"List {tag.lower()}",
            "operationId": f"list{tag}",
            "security": ADMIN,
            "parameters": LIST_PARAMS,
            "responses": {
                **ok("200", "One page.", list_schema),
                **errors("BadRequest", *AUTH, "Unprocessable"),
            },
        },
        "post": {
            "tags": [tag],
            "summary": f"Create a {item.lower()}",
            "operationId": f"create{item}",
            "security": ADMIN,
            "requestBody": body(input_schema),
            "responses": {
                **ok(
                    "201",
                    "Created.",
                    "DeviceCreated" if item == "Device" else item,
                    LOCATION if item == "Device" else LOCATION | ETAG_VERSION,
                ),
                **errors(*AUTH, *JSON_IN, "NotFound"),
            },
        },
    }


def _paths() -> dict[str, Any]:
    id_param = param("id", "path", {"type": "string"}, "Object id.")
    sha_param = param("sha256", "path", {"type": "string"}, "The file's sha256 (lowercase hex).")
    paths: dict[str, Any] = {}

    assets_collection = _collection("Assets", "AssetList", "Asset", "AssetPatch")
    instant_q = {"type": "string", "format": "date-time"}
    assets_collection["post"] = {
        "tags": ["Assets"],
        "summary": "Upload a media file (streamed; deduplicated by sha256 within the tenant)",
        "operationId": "uploadAsset",
        "security": ADMIN,
        "parameters": [
            param(
                "filename",
                "query",
                {"type": "string", "maxLength": v.MAX_FILENAME_CHARS},
                "Original file name (metadata only).",
            ),
            param(
                "title",
                "query",
                {"type": "string", "maxLength": v.MAX_NAME_CHARS},
                "Title; defaults to the file name.",
            ),
            param("emergency", "query", {"type": "boolean"}, "Emergency tier asset."),
            param("valid_from", "query", instant_q, "Start of validity (RFC 3339)."),
            param("valid_until", "query", instant_q, "End of validity, exclusive."),
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
            **ok("200", "The same bytes were already an asset of the tenant.", "Asset"),
            **ok("201", "Created.", "Asset", LOCATION),
            **errors(
                *AUTH,
                "BadRequest",
                "BodyTimeout",
                "LengthRequired",
                "UploadTooLarge",
                "UploadRefused",
                "Unprocessable",
                "MediaCheckBusy",
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
            "responses": {**ok("200", "The asset.", "Asset"), **errors(*AUTH, "NotFound")},
        },
        "patch": {
            "tags": ["Assets"],
            "summary": "Change an asset's metadata",
            "operationId": "patchAsset",
            "security": ADMIN,
            "requestBody": body("AssetPatch"),
            "responses": {
                **ok("200", "The updated asset.", "Asset"),
                **errors(*AUTH, *JSON_IN, "NotFound"),
            },
        },
        "delete": {
            "tags": ["Assets"],
            "summary": "Delete an asset (409 asset_in_use while a playlist has it)",
            "operationId": "deleteAsset",
            "security": ADMIN,
            "responses": {
                "204": {"description": "Deleted."},
                **errors(*AUTH, "NotFound", "Conflict"),
            },
        },
    }

    paths["/v1/playlists"] = _collection("Playlists", "PlaylistList", "Playlist", "PlaylistInput")
    paths["/v1/playlists/{id}"] = _versioned("Playlists", "Playlist", "PlaylistInput", id_param)

    paths["/v1/devices"] = _collection("Devices", "DeviceList", "Device", "DeviceInput")
    paths["/v1/devices"]["get"]["parameters"] = [
        *LIST_PARAMS,
        param("group", "query", string(v.MAX_GROUP_CHARS), "Only devices in this group."),
        param(
            "online",
            "query",
            {"type": "string", "enum": ["true", "false"]},
            "Only devices online (true: MQTT presence, else seen within three telemetry "
            "intervals), or not (false).",
        ),
        param(
            "q",
            "query",
            string(v.MAX_NAME_CHARS),
            "Only devices whose name contains this (case-insensitive).",
        ),
    ]
    paths["/v1/devices/{id}"] = {
        "parameters": [id_param],
        "get": {
            "tags": ["Devices"],
            "summary": "Get a device",
            "operationId": "getDevice",
            "security": ADMIN,
            "responses": {**ok("200", "The device.", "Device"), **errors(*AUTH, "NotFound")},
        },
        "patch": {
            "tags": ["Devices"],
            "summary": "Change a device's name, time zone or groups",
            "operationId": "patchDevice",
            "security": ADMIN,
            "requestBody": body("DevicePatch"),
            "responses": {
                **ok("200", "The updated device.", "Device"),
                **errors(*AUTH, *JSON_IN, "NotFound"),
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
                **errors(*AUTH, "NotFound", "Conflict"),
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
                **ok("201", "The new code (shown once).", "EnrollmentCode"),
                **errors(*AUTH, "NotFound"),
            },
        },
    }

    paths["/v1/schedules"] = _collection("Schedules", "ScheduleList", "Schedule", "ScheduleInput")
    paths["/v1/schedules/{id}"] = _versioned("Schedules", "Schedule", "ScheduleInput", id_param)

    paths.update(override_paths(id_param))

    paths["/v1/plays"] = {
        "get": {
            "tags": ["Proof of play"],
            "summary": "List plays (proof of play), JSON or CSV",
            "operationId": "listPlays",
            "security": ADMIN,
            "parameters": [
                param("device_id", "query", string(100), "Only this device's plays."),
                param("asset_id", "query", string(100), "Only this asset's plays."),
                param("from", "query", instant_q, "Plays started at or after this instant."),
                param("to", "query", instant_q, "Plays started before this instant."),
                *LIST_PARAMS,
            ],
            "responses": {
                "200": {
                    "description": "One page of plays; CSV (same fields) with Accept: text/csv.",
                    "content": {
                        JSON: {"schema": ref("PlayList")},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **errors("BadRequest", *AUTH, "Unprocessable"),
            },
        }
    }

    paths["/v1/enroll"] = {
        "post": {
            "tags": ["Device"],
            "summary": "Trade a one-time enrollment code for a device token",
            "description": (
                "An enrollment code is 16 symbols of Crockford base32 (0-9 and A-Z "
                "without I, L, O, U), issued in dash-separated groups of four "
                "(K7QM-3XD9-PB2H-W4TN). `enrollment_code` is compared case-insensitively, "
                "dashes and spaces ignored, O read as 0 and I or L as 1; a code issued "
                "before this format (16 case-sensitive letters and digits) is compared "
                "as sent until it expires. "
                "A code enrolls once: of concurrent requests with the same code exactly "
                "one gets 201. A valid, unused code always enrolls. A client address "
                "(behind LOMUZ_TRUSTED_PROXIES: the client they name) that sends "
                "LOMUZ_ENROLL_MAX_FAILURES bad codes within LOMUZ_ENROLL_LOCKOUT_S gets "
                "429 with Retry-After instead of 401 for its bad codes until the lockout "
                "ends; the count is shared by every API process."
            ),
            "operationId": "enroll",
            "security": [],
            "requestBody": body("EnrollRequest"),
            "responses": {
                **ok("201", "Enrolled; the token is shown once.", "Enrolled"),
                **errors("Unauthorized", *JSON_IN, "TooManyRequests"),
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
                param("since", "query", string(200), "The cursor of the last manifest."),
                param("If-None-Match", "header", {"type": "string"}, "The cursor, as an ETag."),
                param(
                    "Cache-Control",
                    "header",
                    {"type": "string"},
                    '"no-cache" (a sync on a push nudge): answered from the database, '
                    "never from the per-process revision cache.",
                ),
            ],
            "responses": {
                **ok(
                    "200",
                    "A full snapshot or a delta since the cursor.",
                    "Manifest",
                    {"ETag": {"description": "The new cursor.", "schema": {"type": "string"}}},
                ),
                "304": {"description": "Nothing changed in the tenant since the cursor."},
                **errors(*AUTH, "Unprocessable"),
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
        param("Range", "header", {"type": "string"}, "A single byte range, e.g. bytes=100-."),
        param("If-Range", "header", {"type": "string"}, 'Honour Range only if it is "<sha256>".'),
        param("If-None-Match", "header", {"type": "string"}, '304 when it matches "<sha256>".'),
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
        **errors(*AUTH, "NotFound", "RangeNotSatisfiable"),
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
            "requestBody": body("Telemetry"),
            "responses": {"204": {"description": "Stored."}, **errors(*AUTH, *JSON_IN)},
        }
    }
    paths["/v1/device/plays"] = {
        "post": {
            "tags": ["Device"],
            "summary": "Upload plays (idempotent by play id)",
            "operationId": "postPlays",
            "security": DEVICE,
            "requestBody": body("PlaysUpload"),
            "responses": {
                **ok("200", "How many were new and how many already known.", "PlaysAccepted"),
                **errors(*AUTH, *JSON_IN),
            },
        }
    }

    paths.update(commands_paths())
    paths.update(webhooks_paths())
    paths.update(presence_paths())
    paths.update(ops_paths())
    paths.update(docs_paths())
    return paths


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
                **ok("200", f"The {lower}.", item, ETAG_VERSION),
                **errors(*AUTH, "NotFound"),
            },
        },
        "put": {
            "tags": [tag],
            "summary": f"Replace the {lower} (optimistic concurrency with If-Match)",
            "operationId": f"replace{item}",
            "security": ADMIN,
            "parameters": [IF_MATCH],
            "requestBody": body(input_schema),
            "responses": {
                **ok("200", f"The new {lower}.", item, ETAG_VERSION),
                **errors(*AUTH, *JSON_IN, "NotFound", "PreconditionFailed"),
            },
        },
        "delete": {
            "tags": [tag],
            "summary": f"Delete a {lower} (If-Match as for PUT)",
            "operationId": f"delete{item}",
            "security": ADMIN,
            "parameters": [IF_MATCH],
            "responses": {
                "204": {"description": "Deleted."},
                **errors(*AUTH, "NotFound", "Conflict", "PreconditionFailed"),
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
            "responses": responses_components(),
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
                operation["responses"].update(errors("InternalError"))
    # Shared building blocks (ADMIN, LIST_PARAMS...) must not leak to callers.
    return copy.deepcopy(document)
