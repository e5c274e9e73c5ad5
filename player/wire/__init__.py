"""The player's side of the wire format (PROTOCOL.md): manifest decoding, play encoding.

Modules: ``structs`` (the wire models, their types and bounds), ``complaints``
(how a refusal is worded), ``fields`` (instants and times of day),
``manifest`` (bytes to domain values), ``plays`` (proof-of-play bodies) and
``replies`` (the API's answers as the runtime sees them).

A tolerant reader: unknown fields are ignored at every level, so an older player
keeps working against a newer API of the same schema major. It is strict on what
it uses: a manifest that is not a JSON object, has another schema major, has a
field of the wrong type or value, repeats an id, or (when full) refers to an
asset or playlist it does not contain is rejected whole with a ``ManifestError``
whose ``path`` names the field (``assets[3].sha256``). Referential integrity of
a delta can only be judged against the stored state, so the store checks it
after applying; here a delta is only checked against itself (an item may not
refer to something the same delta deletes).

Instants are RFC 3339 with a zone (``Z`` or ``+hh:mm``) and come out tz-aware
in UTC. Times of day are ``"HH:MM"``; ``"24:00"`` only as a schedule's end.
Both are ASCII digits only.

Bounds (PROTOCOL.md ranges, plus what keeps every later computation in range,
so nothing this decoder accepts can raise when the daemon starts or plays):

=========================  ==========================================
``sync_interval_s``        10 .. 604800 (one week; apscheduler and
                           the C int of a timer never overflow)
``duration_ms`` (assets    0 .. 604800000 (one week); PROTOCOL's 1 s
and playlist items)        floor is the API's refusal rule, a player
                           still plays a shorter item
``crossfade_ms``           0 .. 10000, when present
``priority``               -2**31 .. 2**31-1 (32-bit)
``size``, ``version``      0 .. 2**53-1 (exact in every JSON reader)
``schema``                 any integer within 64 bits (then == 1)
``days``                   1 .. 7, at least one
instants                   2000-01-01T00:00:00Z .. before
                           2100-01-01T00:00:00Z (``MIN_INSTANT`` /
                           ``MAX_INSTANT``): far from datetime's
                           limits whatever zone or offset is added
strings                    valid Unicode (no lone surrogates: SQLite
                           and UTF-8 encoders refuse them)
two assets, one sha256     must agree on ``size`` (one file)
=========================  ==========================================

The field types and bounds are declared once, as msgspec structs (``_ManifestWire``
and the structs it holds): msgspec decodes the bytes straight into them in C,
checking types, ranges, lengths and patterns as it goes, and skips unknown
fields without building them. What a struct cannot say (schema major, time
zone, an instant's form and range, validity windows, a sha256's hex digits,
duplicate ids, one size per sha256, references) is checked while the structs
become the domain values of ``player.core.model``. That conversion consumes the
wire lists, so 100k assets are never held in both forms at once.

Every failure is a ``ManifestError``. A msgspec error names the failing path;
only then is the body parsed a second time, generically, to show the offending
value and to word the complaint from the declared type. A body msgspec cannot
read at all (it refuses lone surrogates anywhere, even in fields the player
ignores) takes the slow path: stdlib ``json``, a surrogate check of the fields
the structs declare, then ``msgspec.convert`` into the same structs, so it is
accepted or rejected as by a stdlib reader. The boundary also turns ``RecursionError`` (deep
nesting), ``UnicodeError``, ``OverflowError`` and ``ValueError`` escaping a
check into a ``ManifestError``, so a hostile body can never become an
"internal error".
"""

from player.wire.fields import parse_instant, parse_manifest_instant, parse_time_of_day
from player.wire.manifest import decode_manifest
from player.wire.plays import encode_play, encode_plays, format_instant
from player.wire.structs import (
    MAX_CROSSFADE_MS,
    MAX_DURATION_MS,
    MAX_INSTANT,
    MAX_PLAYS_PER_UPLOAD,
    MAX_SYNC_INTERVAL_S,
    MIN_INSTANT,
    MIN_SYNC_INTERVAL_S,
    SCHEMA_MAJOR,
)

__all__ = [
    "MAX_CROSSFADE_MS",
    "MAX_DURATION_MS",
    "MAX_INSTANT",
    "MAX_PLAYS_PER_UPLOAD",
    "MAX_SYNC_INTERVAL_S",
    "MIN_INSTANT",
    "MIN_SYNC_INTERVAL_S",
    "SCHEMA_MAJOR",
    "decode_manifest",
    "encode_play",
    "encode_plays",
    "format_instant",
    "parse_instant",
    "parse_manifest_instant",
    "parse_time_of_day",
]
