"""What the daemon's runtime pieces use of the parts, as roles.

The jobs (``jobs``), the requested syncs (``sync_requests``) and the status
report (``status_report``) read ``player.composition.PlayerParts`` and its
``Network`` as they are now; the runtime never imports the composition root,
so these Protocols say which of their members it may use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from player.core.clock import ClockStatus
from player.core.push import PushStatus
from player.ports import Clock, MediaFiles

if TYPE_CHECKING:
    from player.runtime.downloads import DownloadManager
    from player.runtime.janitor import Janitor
    from player.runtime.playback import PlaybackLoop
    from player.runtime.syncer import Syncer
    from player.runtime.telemetry import TelemetryUploader
    from player.settings import Settings
    from player.store.repository import PlayerStore


class DaemonClock(Clock, Protocol):
    def status(self) -> ClockStatus: ...


class NetworkParts(Protocol):
    """The network side (``player.network.Network``)."""

    @property
    def syncer(self) -> Syncer: ...

    @property
    def downloads(self) -> DownloadManager: ...

    @property
    def telemetry(self) -> TelemetryUploader: ...

    def has_downloads(self) -> bool:
        """Whether the downloads were built (reading ``downloads`` builds them)."""
        ...

    def push_status(self) -> PushStatus:
        """The push link's state ("off" without ``[push] url``); builds nothing."""
        ...

    def pick_up_commands(self) -> None:
        """After a sync: ask for the remote commands the broker did not deliver."""
        ...


class DaemonParts(Protocol):
    """The parts (``player.composition.PlayerParts``); reading one builds it."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> PlayerStore: ...

    @property
    def clock(self) -> DaemonClock: ...

    @property
    def cache(self) -> MediaFiles: ...

    @property
    def network(self) -> NetworkParts | None:
        """The network side as it is now; None when not enrolled."""
        ...

    @property
    def loop(self) -> PlaybackLoop: ...

    @property
    def janitor(self) -> Janitor: ...

    def has(self, name: str) -> bool:
        """Whether the part ``name`` was built."""
        ...
