"""Parts of the OpenAPI document kept apart from ``control_api.openapi`` (its size):
the error responses, the tags, the building blocks of operations (references,
parameters, security), the telemetry status object, the reference page."""

from __future__ import annotations

from typing import Any

from control_api import docs_page
from control_api.core.validation import DEFAULT_LIMIT, MAX_LIMIT

JSON = "application/json"
Schema = dict[str, Any]

ERRORS: dict[str, tuple[str, str]] = {
    # component name: (status, description)
    "BadRequest": ("400", "Malformed request (e.g. a body that is not JSON)."),
    "Unauthorized": ("401", "Missing or invalid token."),
    "Forbidden": ("403", "A token of the wrong kind (admin vs device)."),
    "NotFound": ("404", "Unknown, or another tenant's, object."),
    "BodyTimeout": (
        "408",
        "body_timeout: the body did not arrive within LOMUZ_BODY_READ_TIMEOUT_S plus 1 s per"
        " LOMUZ_BODY_MIN_RATE_BYTES_S bytes received; the connection is closed.",
    ),
    "LengthRequired": ("411", "length_required: a body with neither Content-Length nor chunked."),
    "Conflict": ("409", "Conflict with the current state (e.g. asset_in_use)."),
    "PreconditionFailed": ("412", "If-Match does not match the current version."),
    "PayloadTooLarge": ("413", "Body larger than the limit."),
    "UnsupportedMediaType": ("415", "Unsupported Content-Type."),
    "RangeNotSatisfiable": ("416", "Range outside the file (Content-Range: bytes */size)."),
    "Unprocessable": ("422", "Well-formed but invalid input; the message names the field."),
    "TooManyRequests": ("429", "Too many attempts; retry after Retry-After seconds."),
    "UploadTooLarge": (
        "413",
        "payload_too_large: over LOMUZ_MAX_UPLOAD_BYTES; quota_exceeded: the tenant's assets"
        " would pass LOMUZ_TENANT_QUOTA_BYTES (the message names the used and limit bytes)."
        " A re-upload of bytes the tenant already has (200) is never refused by the quota.",
    ),
    "UploadRefused": (
        "415",
        "unsupported_media_type: the Content-Type is not an allowed subtype;"
        " unsupported_media_content: the bytes are not MP3, AAC (ADTS), FLAC, Ogg, WAV,"
        " MP4/MOV, Matroska/WebM (audio, video) or PNG, JPEG, GIF, WebP (image) of the"
        " declared type, or they refer to other files or URLs (playlists of any kind, SVG,"
        " XML, HTML and other text are refused).",
    ),
    "Unavailable": ("503", "The database does not answer."),
    "MediaCheckBusy": (
        "503",
        "media_check_busy: the upload's media check did not finish in time (a busy server);"
        " send it again after Retry-After seconds.",
    ),
    "PushUnavailable": (
        "503",
        "push_unavailable: the server issues no broker credentials (LOMUZ_MQTT_MANAGE_ACCOUNTS"
        " off, or no broker) or the broker did not answer in time; ask again after"
        " Retry-After seconds, and sync by polling meanwhile.",
    ),
    "MetricsUnauthorized": ("401", "Missing or wrong metrics token."),
    "MetricsOff": ("403", "The server has no LOMUZ_METRICS_TOKEN: /metrics is off."),
    "InternalError": (
        "500",
        "internal_error: an unexpected failure; the server logs it, the answer says nothing"
        " of it. Any operation may answer it.",
    ),
}

TAGS = {
    "Assets": "Media files of the tenant: upload (streamed, deduplicated), metadata, delete.",
    "Playlists": "Ordered lists of assets; versioned (ETag / If-Match).",
    "Devices": "The tenant's players: create, enroll, rename, regroup, decommission.",
    "Schedules": "Which playlist plays where and when; versioned (ETag / If-Match).",
    "Overrides": (
        '"Play this playlist now on a device, a group or all, until T": above every'
        " schedule (tier `override`); the devices fall back by themselves at `until`."
    ),
    "Proof of play": "What each device played, as JSON pages or CSV.",
    "Alerts": (
        "Signed webhooks for device alerts (offline, online, storage full, playback "
        "stopped, sync failing), retried with backoff, with a delivery log."
    ),
    "Device": "Endpoints a player calls with its device token.",
    "Operations": "Health, Prometheus metrics and this document.",
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def responses_components() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (_status, description) in ERRORS.items():
        out[name] = {"description": description, "content": json_content(ref("Error"))}
    out["RangeNotSatisfiable"]["headers"] = {
        "Content-Range": {"schema": {"type": "string", "pattern": r"^bytes \*/[0-9]+$"}}
    }
    out["TooManyRequests"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    out["MediaCheckBusy"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    out["PushUnavailable"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    challenge = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    out["Unauthorized"]["headers"] = challenge
    out["MetricsUnauthorized"]["headers"] = challenge
    return out


def errors(*names: str) -> dict[str, Any]:
    return {ERRORS[n][0]: {"$ref": f"#/components/responses/{n}"} for n in names}


def ok(status: str, description: str, schema: str, headers: dict[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {"description": description, "content": json_content(ref(schema))}
    if headers:
        response["headers"] = headers
    return {status: response}


def param(
    name: str, where: str, schema: Schema, description: str, *, required: bool = False
) -> Any:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": json_content(ref(schema))}


ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
DEVICE: list[dict[str, list[str]]] = [{"deviceToken": []}]
EITHER: list[dict[str, list[str]]] = [{"adminToken": []}, {"deviceToken": []}]
AUTH = ("Unauthorized", "Forbidden")
JSON_IN = ("BadRequest", "BodyTimeout", "PayloadTooLarge", "UnsupportedMediaType", "Unprocessable")
LIST_PARAMS = [
    param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        f"Page size, 1 to {MAX_LIMIT} (else 422); {DEFAULT_LIMIT} when absent.",
    ),
    param(
        "after",
        "query",
        {"type": "string", "maxLength": 500},
        "The `next` value of the previous page.",
    ),
]
LOCATION = {
    "Location": {
        "description": "The new object's path: /v1/<collection>/<id>.",
        "schema": {"type": "string"},
    }
}
ETAG_VERSION = {
    "ETag": {
        "description": 'The object\'s version, quoted: "<version>".',
        "schema": {"type": "string"},
    }
}
IF_MATCH = param(
    "If-Match",
    "header",
    {"type": "string"},
    'The version last read, as "<version>" (a strong tag; a weak W/ tag never matches); '
    "412 if stale.",
)


def string(max_chars: int) -> Schema:
    return {"type": "string", "maxLength": max_chars}


def _nullable(kind: str, description: str | None = None) -> Schema:
    schema: Schema = {"type": [kind, "null"]}
    if description:
        schema["description"] = description
    return schema


def telemetry_schema() -> Schema:
    """The status object a player sends (player.daemon ``status()``), every field
    optional and open: the server stores any JSON object of bounded size and depth."""
    instant: Schema = {"type": "string", "format": "date-time"}
    count: Schema = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "description": (
            "The player's status report, stored as sent and shown as the Device's `status`."
            " Any JSON object is accepted (fields may be added); these are the fields"
            " lomuz-player sends."
        ),
        "properties": {
            "at": {**instant, "description": "The player's clock when it reported."},
            "versions": {
                "type": "object",
                "properties": {"player": {"type": "string"}, "libvlc": _nullable("string")},
            },
            "started_at": instant,
            "now_playing": {
                "type": ["object", "null"],
                "description": "What plays now (state: starting, playing, silence, no_audio,"
                " stopped; the item's asset_id, sha256, schedule_id, playlist_id, tier...).",
                "properties": {"state": {"type": "string"}},
            },
            "audio": {
                "type": "object",
                "properties": {
                    "backend": {"type": "string"},
                    "state": {"type": "string", "description": "ok, none, unknown or off."},
                    "problem": _nullable("string"),
                },
            },
            "enrolled": {"type": "boolean"},
            "cursor": _nullable("string", "The cursor of the last manifest applied."),
            "last_sync_ok_at": {"type": ["string", "null"], "format": "date-time"},
            "last_sync_error": _nullable("string"),
            "sync_failures": {
                **count,
                "description": "Consecutive failed syncs; 0 after a success.",
            },
            "cache": {
                "type": "object",
                "properties": {"files": count, "size_bytes": count},
            },
            "storage_full": {"type": "boolean"},
            "outbox": {
                "type": "object",
                "description": "Plays not yet acknowledged, and plays dropped (outbox full).",
                "properties": {"pending": count, "dropped": count},
            },
            "catalogue": {
                "type": "object",
                "description": "Counts of the player's local catalogue.",
                "additionalProperties": {"type": "integer"},
            },
            "clock": {
                "type": "object",
                "properties": {
                    "trusted": {"type": "boolean"},
                    "plausible": {"type": "boolean"},
                    "offset_s": {"type": "number"},
                    "reason": _nullable("string"),
                    "steps": {"type": "integer"},
                },
            },
            "downloads": {
                "type": ["object", "null"],
                "description": "Media downloads: pending, in_progress, failing, totals.",
            },
            "system": {
                "type": "object",
                "description": "Host metrics (CPU, memory, disk, temperature; null when unknown).",
            },
        },
    }


def _text(media_type: str) -> dict[str, Any]:
    return {media_type: {"schema": {"type": "string"}}}


def ops_paths() -> dict[str, Any]:
    """Health, metrics and this document."""
    return {
        "/healthz": {
            "get": {
                "tags": ["Operations"],
                "summary": "Health: the database answers",
                "operationId": "health",
                "security": [],
                "responses": {
                    **ok("200", "The database answers.", "Health"),
                    **errors("Unavailable"),
                },
            },
            "head": {
                "tags": ["Operations"],
                "operationId": "healthHead",
                "summary": "The same answer as GET, without a body (load balancers)",
                "security": [],
                "responses": {
                    "200": {"description": "The database answers."},
                    **errors("Unavailable"),
                },
            },
        },
        "/metrics": {
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
                    **errors("MetricsUnauthorized", "MetricsOff"),
                },
            },
        },
        "/v1/openapi.json": {
            "get": {
                "tags": ["Operations"],
                "summary": "This OpenAPI document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": {
                        "description": "This document.",
                        "content": json_content({"type": "object"}),
                    }
                },
            },
        },
    }


def docs_paths() -> dict[str, Any]:
    """GET /v1/docs and the files it loads (control_api.docs_page)."""
    paths: dict[str, Any] = {
        docs_page.PAGE: {
            "get": {
                "tags": ["Operations"],
                "summary": "This document, rendered (Redoc, served by the API itself)",
                "operationId": "docs",
                "security": [],
                "responses": {
                    "200": {"description": "An HTML page.", "content": _text("text/html")}
                },
            }
        }
    }
    for path, (summary, operation_id, media_type) in docs_page.FILES.items():
        paths[path] = {
            "get": {
                "tags": ["Operations"],
                "summary": summary,
                "operationId": operation_id,
                "security": [],
                "responses": {
                    "200": {
                        "description": "The file (immutable: its name carries its version).",
                        "content": _text(media_type),
                    }
                },
            }
        }
    return paths
