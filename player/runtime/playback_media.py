"""What the playback loop hands to its output: the file of a decision, checked first.

Only allowed media reach the output: each file's leading bytes (the built-in
jingle's too) are read and any that are not an allowed format for the asset's
media type (``player.core.media_format``) are refused (failing media; the
reason logged once per file).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lomuz_rules.model import Decision, MediaType, Tier
from player.core.loudness import Gain, LoudnessSettings, item_gain
from player.core.media_format import file_reader, judge
from player.errors import PlayerError
from player.ports import MediaOutput
from player.runtime.playback_plays import Item

# The loop's logger: these lines are part of what the playback log says.
log = logging.getLogger("player.runtime.playback")

JINGLE_ASSET_ID = "jingle"
# The built-in jingle's EBU R128 measurement (ffmpeg ebur128=peak=true on
# player/data/jingle.wav; a test measures the file again): it has no asset, so
# no measurement from the API. A configured jingle file is unmeasured (0 dB).
BUILTIN_JINGLE_LOUDNESS_LUFS = -16.0
BUILTIN_JINGLE_TRUE_PEAK_DBTP = -4.4
_REFUSALS_REMEMBERED = 1000


def default_jingle_path() -> Path:
    """The built-in jingle shipped in the package (player/data/jingle.wav)."""
    resource = importlib.resources.files("player") / "data" / "jingle.wav"
    return Path(str(resource))


@dataclass(frozen=True)
class Unplayable:
    """A decision whose file cannot be played: ``item`` (token -1) is recorded as an error."""

    item: Item
    reason: str
    logged: bool  # the reason was logged already (refusals: once per file)


class MediaGate:
    """Finds a decision's file, checks its format, prepares it on the output."""

    def __init__(
        self,
        output: MediaOutput,
        media_path: Callable[[str], Path],
        jingle_path: Path | None,
        loudness: LoudnessSettings | None = None,
    ) -> None:
        self._output = output
        self._loudness = LoudnessSettings() if loudness is None else loudness
        self._media_path = media_path
        self._jingle_path = jingle_path
        self._jingle_sha256: str | None = None
        self._refusals_logged: set[str] = set()

    def _identity(self, decision: Decision) -> tuple[str, str, Path]:
        if decision.tier == Tier.JINGLE or decision.sha256 is None:
            path = self._jingle_path or default_jingle_path()
            if self._jingle_sha256 is None:
                self._jingle_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            return JINGLE_ASSET_ID, self._jingle_sha256, path
        return decision.asset_id or "", decision.sha256, self._media_path(decision.sha256)

    def prepare(self, decision: Decision) -> Item | Unplayable:
        asset_id, sha256 = decision.asset_id or JINGLE_ASSET_ID, decision.sha256 or ""
        try:
            asset_id, sha256, path = self._identity(decision)
            with path.open("rb") as f:
                verdict = judge(file_reader(f), decision.media_type or MediaType.AUDIO)
            if verdict.problem is not None:
                item = Item(decision, -1, asset_id, sha256, None)
                return self._refused(item, verdict.problem)
            gain = self.gain_of(decision)
            token = self._output.prepare(path, verdict.format, gain.gain_db)
        except (PlayerError, OSError, LookupError) as exc:
            item = Item(decision, -1, asset_id, sha256, None)
            return Unplayable(item, f"cannot open: {exc}", logged=False)
        return Item(decision, token, asset_id, sha256, self._output.length_ms(token), gain=gain)

    def gain_of(self, decision: Decision) -> Gain:
        """The item's loudness gain: from the API's measurement, or the built-in jingle's."""
        lufs, peak = decision.loudness_lufs, decision.true_peak_dbtp
        jingle = decision.tier == Tier.JINGLE or decision.sha256 is None
        if jingle and self._jingle_path is None:
            lufs, peak = BUILTIN_JINGLE_LOUDNESS_LUFS, BUILTIN_JINGLE_TRUE_PEAK_DBTP
        return item_gain(lufs, peak, str(decision.tier), self._loudness)

    def _refused(self, item: Item, problem: str) -> Unplayable:
        """A file that is not allowed media: failing media, never handed to the output."""
        reason = f"refused before playing: {problem}"
        if item.sha256 not in self._refusals_logged:
            if len(self._refusals_logged) >= _REFUSALS_REMEMBERED:
                self._refusals_logged.clear()
            self._refusals_logged.add(item.sha256)
            log.warning("not playing %s %s: %s", item.decision.tier, item.asset_id, reason)
        return Unplayable(item, reason, logged=True)
