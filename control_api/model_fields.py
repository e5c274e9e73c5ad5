"""The API's field types and bounds: the pieces ``control_api.models`` builds its
structs from (and the one place their limits are stated)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from control_api.core import validation as v

INT32_MAX = 2**31 - 1
MAX_PLAYLIST_ITEMS = 10_000
MAX_PLAYS_PER_UPLOAD = 1000
MAX_TIMEZONE_CHARS = 64
# Not blank (``as_str``'s "must not be empty") and no NUL (PostgreSQL text
# cannot hold one); a lookahead so that matching stays linear in the length.
TEXT_PATTERN = r"^(?!\s*$)[^\x00]*$"
CODE_PATTERN = "^[a-z][a-z0-9_]*$"
# What a refused pattern means, for the 422 message (msgspec quotes the regex).
PATTERN_MESSAGES = {
    TEXT_PATTERN: "must not be empty or contain NUL characters",
}

# ---------------------------------------------------------------- field types

Name = Annotated[str, Meta(min_length=1, max_length=v.MAX_NAME_CHARS, pattern=TEXT_PATTERN)]
ObjectId = Annotated[str, Meta(min_length=1, max_length=v.MAX_NAME_CHARS, pattern=TEXT_PATTERN)]
GroupName = Annotated[str, Meta(min_length=1, max_length=v.MAX_GROUP_CHARS, pattern=TEXT_PATTERN)]
Groups = Annotated[list[GroupName], Meta(max_length=v.MAX_GROUPS)]
Timezone = Annotated[str, Meta(max_length=MAX_TIMEZONE_CHARS, description="IANA time zone name.")]
Instant = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
InstantIn = Annotated[
    str, Meta(max_length=v.MAX_INSTANT_CHARS, extra_json_schema={"format": "date-time"})
]
DurationIn = Annotated[
    int,
    Meta(
        ge=v.MIN_DURATION_MS,
        le=INT32_MAX,
        description="At least 1000 (an item plays for at least 1 s).",
    ),
]
Duration = Annotated[int, Meta(ge=0)]
Crossfade = Annotated[
    int,
    Meta(
        ge=0,
        le=v.MAX_CROSSFADE_MS,
        description="How long consecutive items overlap, fading, in ms (0: gapless).",
    ),
]
Count = Annotated[int, Meta(ge=0)]
Priority = Annotated[int, Meta(ge=-INT32_MAX, le=INT32_MAX)]
Sha256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
StartTime = Annotated[
    str, Meta(pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$", description='Local time of day "HH:MM".')
]
EndTime = Annotated[
    str,
    Meta(
        pattern="^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        description='Local time of day "HH:MM"; "24:00" is the end of the day.',
    ),
]
Weekday = Annotated[int, Meta(ge=1, le=7)]
Days = Annotated[list[Weekday], Meta(description="ISO weekdays, 1 (Monday) to 7 (Sunday).")]
DaysIn = Annotated[
    list[Weekday], Meta(min_length=1, description="ISO weekdays, 1 (Monday) to 7 (Sunday).")
]
NextPage = Annotated[str, Meta(description="Opaque; pass as `after` to get the next page.")] | None
PlayRef = Annotated[str, Meta(max_length=v.MAX_ID_CHARS)]
