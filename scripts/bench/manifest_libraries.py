"""Benchmark: msgspec against pydantic v2 for the manifest (issue 11's library choice).

Usage: .venv/bin/python scripts/bench/manifest_libraries.py [--assets N] [--repeat R]

(a) Player decode of an N-asset full manifest (the wire_decode.py document):
    bytes -> validated wire models with the library alone, and the whole
    path to core values (``player.wire.decode_manifest`` for msgspec; the same
    conversion code driven by pydantic models for pydantic), all with the
    collector paused as decode_manifest does. Best of R, peak of
    Python allocations (tracemalloc), RSS high-water in a fresh process.
(b) Import on the player: a fresh interpreter importing the library and defining
    the manifest models: wall time and RSS growth, median of 5 processes.
(c) API encoding of the same manifest: Falcon's JSON handler (stdlib json, as
    served today), msgspec.json.encode and pydantic_core.to_json of the same
    dict, and each library encoding its own model instances.

pydantic's models carry the same types and bounds as player.wire's structs
(strict mode, unknown fields ignored); the checks both need beyond them are
the same code, so the difference is the library's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wire_decode import build  # the benchmark manifest of scripts/bench/wire_decode.py

# The pydantic twin of player.wire's structs; a string so that (b) can time its
# definition in a fresh interpreter.
PYDANTIC_MODELS = """
from typing import Annotated, Any
from pydantic import BaseModel, ConfigDict, Field
from lomuz_rules.model import MediaType, TargetKind

MAX_WIRE_INT = 2**63 - 1
MAX_EXACT_INT = 2**53 - 1


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


Id = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=0, le=MAX_EXACT_INT)]
DurationMs = Annotated[int, Field(ge=0, le=7 * 24 * 3600 * 1000)]


class AssetWire(_Wire):
    id: Id
    sha256: Annotated[str, Field(min_length=64, max_length=64)]
    size: Count
    media_type: MediaType
    url: Id
    content_type: str | None = None
    title: str | None = None
    duration_ms: DurationMs | None = None
    valid_from: str | None = None
    valid_until: str | None = None
    emergency: bool | None = None


class ItemWire(_Wire):
    asset_id: Id
    duration_ms: DurationMs | None = None


class PlaylistWire(_Wire):
    id: Id
    items: list[ItemWire]
    version: Count
    name: str | None = None
    crossfade_ms: Annotated[int, Field(ge=0, le=10_000)] | None = None


class ScheduleWire(_Wire):
    id: Id
    playlist_id: Id
    target: TargetKind
    created_at: str
    version: Count
    priority: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    days: list[Annotated[int, Field(ge=1, le=7)]] | None = None
    start_time: Annotated[str, Field(pattern=r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    end_time: (
        Annotated[str, Field(pattern=r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")] | None
    ) = None
    valid_from: str | None = None
    valid_until: str | None = None


class DeviceWire(_Wire):
    id: Id
    name: str | None = None
    timezone: str | None = None
    groups: list[str] | None = None


class ManifestWire(_Wire):
    schema_: Annotated[int, Field(alias="schema", ge=-MAX_WIRE_INT, le=MAX_WIRE_INT)]
    cursor: str
    full: bool
    server_time: str
    sync_interval_s: Annotated[int, Field(ge=10, le=604800)]
    device: DeviceWire
    assets: list[AssetWire] | None = None
    playlists: list[PlaylistWire] | None = None
    schedules: list[ScheduleWire] | None = None
    deleted: Any = None
"""

MSGSPEC_MODELS = "from player.wire.structs import _ManifestWire as ManifestWire\n"

_IMPORT_CHILD = """
import sys, time
from pathlib import Path


def rss_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


import lomuz_rules.model, player.core.model, player.errors  # the player has these loaded anyway
before_kib = rss_kib()
start = time.perf_counter()
{imports}
{models}
print(time.perf_counter() - start, rss_kib() - before_kib)
"""

# The whole decode in a fresh process, for its RSS high-water (see wire_decode.py).
_DECODE_CHILD = """
import sys
from pathlib import Path
{setup}


def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])


raw = Path(sys.argv[1]).read_bytes()
before_kib = kib("VmRSS")
result = decode(raw)
print(kib("VmHWM") - before_kib)
"""

_MSGSPEC_SETUP = "from player.wire import decode_manifest as decode"
_PYDANTIC_SETUP = "from manifest_libraries import pydantic_decoder\ndecode = pydantic_decoder()"


def pydantic_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "pydantic_models"}
    # dont_inherit: not under this module's "from __future__ import annotations"
    code = compile(PYDANTIC_MODELS, "<pydantic models>", "exec", dont_inherit=True)
    exec(code, namespace)  # our own constant, timed in (b)
    return namespace


def pydantic_decoder() -> Callable[[bytes], Any]:
    """bytes -> core Manifest through pydantic models and player.wire's conversion."""
    from player.core.model import Deleted, Manifest
    from player.interpreter import collector_paused
    from player.wire import manifest as wire

    manifest_wire = pydantic_namespace()["ManifestWire"]

    def decode(raw: bytes) -> Manifest:
        with collector_paused():
            w = manifest_wire.model_validate_json(raw)
            instants = wire._Instants()
            m = Manifest(
                schema=w.schema_,
                cursor=w.cursor,
                full=w.full,
                server_time=instants.required(w.server_time, "server_time"),
                sync_interval_s=w.sync_interval_s,
                device=wire._device(w.device),
                assets=wire._assets(w.assets, instants),
                playlists=wire._playlists(w.playlists),
                # pydantic has no "absent" apart from None: days given the wire default
                schedules=wire._schedules([_with_days(s) for s in w.schedules], instants),
                deleted=Deleted(),
            )
            wire._check_references(m)
            return m

    def _with_days(s: Any) -> Any:
        if s.days is None:
            s.days = [1, 2, 3, 4, 5, 6, 7]
        return s

    return decode


def paused(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` with the collector paused, as ``decode_manifest`` runs (fair to both)."""
    from player.interpreter import collector_paused

    def run() -> object:
        with collector_paused():
            return fn()

    return run


def best_s(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def traced_peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def child(code: str, *args: str) -> str:
    here = str(Path(__file__).resolve().parent)
    return subprocess.run(
        [sys.executable, "-P", "-c", f"import sys; sys.path.insert(0, {here!r})\n" + code, *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def rss_peak_mb(setup: str, raw: bytes) -> float:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(raw)
        f.flush()
        return int(child(_DECODE_CHILD.format(setup=setup), f.name)) / 1024


def import_cost(imports: str, models: str) -> tuple[float, float]:
    """Median (ms, MiB) of 5 fresh interpreters importing and defining the models."""
    runs = [child(_IMPORT_CHILD.format(imports=imports, models=models)).split() for _ in range(5)]
    return (
        statistics.median(float(ms) for ms, _ in runs) * 1000,
        statistics.median(int(kib) for _, kib in runs) / 1024,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import msgspec
    import pydantic
    import pydantic_core

    from player.wire import manifest as wire

    raw = build(args.assets)
    print(
        f"msgspec {msgspec.__version__}, pydantic {pydantic.VERSION} "
        f"(pydantic-core {pydantic_core.__version__}); {len(raw) / 1e6:.1f} MB manifest"
    )

    print("\n(a) player decode")
    py_models = pydantic_namespace()
    py_manifest = py_models["ManifestWire"]
    py_decode = pydantic_decoder()
    rows: list[tuple[str, Callable[[], object], str | None]] = [
        (
            "msgspec: bytes -> wire structs",
            paused(lambda: msgspec.json.decode(raw, type=wire._ManifestWire)),
            None,
        ),
        (
            "pydantic: bytes -> wire models",
            paused(lambda: py_manifest.model_validate_json(raw)),
            None,
        ),
        (
            "msgspec: decode_manifest (core values)",
            lambda: wire.decode_manifest(raw),
            _MSGSPEC_SETUP,
        ),
        ("pydantic: same path (core values)", lambda: py_decode(raw), _PYDANTIC_SETUP),
    ]
    for name, fn, setup in rows:
        rss = f"  peak RSS {rss_peak_mb(setup, raw):6.1f} MiB" if setup else ""
        print(
            f"  {name:40s} best {best_s(fn, args.repeat):6.3f} s  "
            f"peak traced {traced_peak_mb(fn):6.1f} MB{rss}"
        )

    print("\n(b) import + define the manifest models, fresh interpreter (median of 5)")
    for name, imports, models in (
        ("msgspec", "import msgspec, msgspec.json", MSGSPEC_MODELS),
        ("pydantic", "import pydantic", PYDANTIC_MODELS),
    ):
        ms, mib = import_cost(imports, models)
        print(f"  {name:10s} {ms:7.1f} ms  +{mib:5.1f} MiB RSS")

    print("\n(c) API encoding of the same manifest")
    doc = json.loads(raw)
    structs = msgspec.json.decode(raw, type=wire._ManifestWire)
    models = py_manifest.model_validate_json(raw)
    falcon_dumps = _falcon_json_dumps()
    for name, fn in (
        ("stdlib json (Falcon's handler, today)", lambda: falcon_dumps(doc).encode()),
        ("msgspec.json.encode(dict)", lambda: msgspec.json.encode(doc)),
        ("pydantic_core.to_json(dict)", lambda: pydantic_core.to_json(doc)),
        ("msgspec: Struct instances", lambda: msgspec.json.encode(structs)),
        ("pydantic: model_dump_json", lambda: models.model_dump_json(by_alias=True)),
    ):
        print(f"  {name:40s} best {best_s(fn, args.repeat) * 1000:7.1f} ms")


def _falcon_json_dumps() -> Callable[[Any], str]:
    import falcon.media

    handler = falcon.media.JSONHandler()
    return handler._dumps  # type: ignore[no-any-return]


if __name__ == "__main__":
    main()
