"""The Asset as the API answers it and as a manifest carries it (PROTOCOL.md, Assets).

Part of ``control_api.models`` (re-exported there; the same rules apply). The
measured fields (issue 14) are read-only: the API measures audio and video once
at ingest (``control_api.measuring``). ``cue_in_ms``/``cue_out_ms`` extend
PROTOCOL.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from control_api.model_fields import Count, Duration, Instant, Sha256

LoudnessLufs = Annotated[
    float,
    Meta(
        description="EBU R128 / ITU-R BS.1770 integrated loudness in LUFS, measured by the"
        " API for audio and video; null until measured, and for a silent file."
    ),
]
TruePeakDbtp = Annotated[
    float,
    Meta(description="True peak in dBTP (ITU-R BS.1770); null as for `loudness_lufs`."),
]
CueInMs = Annotated[
    int,
    Meta(
        ge=0,
        description="Where the sound starts (the end of a leading silence below -50 dB of"
        " at least 0.5 s; else 0), in ms; null until measured.",
    ),
]
CueOutMs = Annotated[
    int,
    Meta(
        ge=0,
        description="Where the sound ends (the start of a trailing silence; else the decoded"
        " length), in ms; null until measured.",
    ),
]


class AssetMeasurement(Struct, kw_only=True):
    """How the API's measuring of an audio or video asset stands (read-only)."""

    state: Annotated[
        Literal["pending", "measured", "failed"],
        Meta(
            description="pending: queued (or waiting to retry); measured; failed: given up"
            " (`reason` says why)."
        ),
    ]
    failed_attempts: Annotated[
        int, Meta(ge=0, description="Failed attempts since the last success.")
    ]
    reason: (
        Annotated[
            str,
            Meta(
                description="Why the last attempt failed, or why a measured file has no loudness."
            ),
        ]
        | None
    )
    measured_at: Instant | None


class Asset(Struct, kw_only=True):
    id: str
    sha256: Sha256
    size: Count
    media_type: Literal["audio", "video", "image"]
    content_type: str
    title: str | None
    filename: (
        Annotated[str, Meta(description="The `filename` given at upload (metadata only).")] | None
    )
    duration_ms: Duration | None
    valid_from: Instant | None
    valid_until: Instant | None
    emergency: bool
    created_at: Instant
    updated_at: Instant
    loudness_lufs: LoudnessLufs | None
    true_peak_dbtp: TruePeakDbtp | None
    cue_in_ms: CueInMs | None
    cue_out_ms: CueOutMs | None
    measurement: (
        Annotated[AssetMeasurement, Meta(description="null for images (not measured).")] | None
    )


class ManifestAsset(Struct, kw_only=True):
    """An Asset (without its `measurement`) with its media URL. `filename` and the
    measured fields are optional here: the golden manifests a player must accept
    (tests/contract) predate them, and a player never needs `filename`."""

    id: str
    sha256: Sha256
    size: Count
    media_type: Literal["audio", "video", "image"]
    content_type: str
    title: str | None
    filename: str | None = None
    duration_ms: Duration | None
    valid_from: Instant | None
    valid_until: Instant | None
    emergency: bool
    created_at: Instant
    updated_at: Instant
    loudness_lufs: LoudnessLufs | None = None
    true_peak_dbtp: TruePeakDbtp | None = None
    cue_in_ms: CueInMs | None = None
    cue_out_ms: CueOutMs | None = None
    url: Annotated[str, Meta(description="Absolute, or a path on the API.")]
