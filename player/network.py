"""The enrolled side of the player's parts, for one set of credentials.

Built by ``PlayerParts.connect`` (``player.composition``); see that module for
the order of building and closing. Imports only light modules at top level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import quote

from player.composition import api_url_for
from player.errors import PlayerError

if TYPE_CHECKING:
    from lomuz_rules.push import BrokerAddress
    from player.adapters.http_api import ControlApiClient
    from player.composition import PlayerParts
    from player.core.push import PushStatus
    from player.credentials import Credentials
    from player.ports import PushLink
    from player.runtime.commands import RemoteCommands
    from player.runtime.downloads import DownloadManager
    from player.runtime.nudges import NudgeSyncs
    from player.runtime.syncer import Syncer
    from player.runtime.telemetry import TelemetryUploader

log = logging.getLogger(__name__)


class Network:
    """The enrolled side for one set of credentials: API client, syncer, downloads, telemetry,
    remote commands, push link.

    The client is built with the network; the others on first use (downloads
    start their workers then) or at ``start()``. ``close()`` stops the
    downloads and closes the client; ``PlayerParts`` calls it.
    """

    def __init__(self, parts: PlayerParts, credentials: Credentials) -> None:
        from player.adapters.http_api import ControlApiClient

        self._parts = parts
        self.credentials = credentials
        self.api_url = api_url_for(parts.settings, credentials)
        api = parts.settings.api
        self.client: ControlApiClient = ControlApiClient(
            self.api_url,
            credentials.device_token,
            allow_insecure_http=api.allow_insecure_http,
            media_origins=api.media_origins,
        )
        if self.client.insecure_problem is not None:
            log.error(
                "api url %s: %s; syncing, telemetry and downloads are refused, "
                "playing from the cache",
                self.api_url,
                self.client.insecure_problem,
            )

    @cached_property
    def syncer(self) -> Syncer:
        from player.adapters.retry import TenacityRetrier
        from player.runtime.syncer import SYNC_RETRY, Syncer

        parts = self._parts
        store = parts.store
        return Syncer(
            store.catalogue,
            store.state,
            self.client,
            parts.clock,
            retry=TenacityRetrier(SYNC_RETRY),
            on_applied=parts.hooks.synced,
        )

    @cached_property
    def downloads(self) -> DownloadManager:
        """The download manager, started (it queues what the stored catalogue needs)."""
        from player.adapters.fetcher import Fetcher
        from player.runtime.downloads import DownloadManager

        parts = self._parts
        downloads = DownloadManager(
            parts.store.catalogue,
            parts.store.files,
            parts.cache,
            Fetcher(self.client, parts.cache),
            parts.clock,
            concurrency=parts.settings.downloads.concurrency,
            on_file_ready=parts.hooks.file_ready,
            room_problem=parts.janitor.room_problem,
        )
        downloads.start()
        return downloads

    @cached_property
    def telemetry(self) -> TelemetryUploader:
        from player.runtime.telemetry import TelemetryUploader

        return TelemetryUploader(self._parts.store.outbox, self.client, self._parts.hooks.status)

    @cached_property
    def nudges(self) -> NudgeSyncs:
        """Nudges to sync requests (jittered, rate-limited), its thread started."""
        from player.runtime.nudges import NudgeSyncs

        parts = self._parts
        push = parts.settings.push
        nudged = parts.hooks.nudged
        nudges = NudgeSyncs(
            cursor=parts.store.state.cursor,
            request_sync=nudged if nudged is not None else lambda: None,
            monotonic=parts.clock.monotonic,
            max_jitter_s=push.jitter_s,
            min_gap_s=push.min_interval_s,
        )
        nudges.start()
        return nudges

    @cached_property
    def commands(self) -> RemoteCommands:
        """Remote commands (from the push link and the pick-up after each sync), started."""
        from player.runtime.command_actions import PlayerCommandActions
        from player.runtime.commands import RemoteCommands

        parts, client = self._parts, self.client
        store = parts.store
        command_sync = parts.hooks.command_sync
        actions = PlayerCommandActions(
            lambda: parts.loop,
            lambda: parts.output,
            sync=command_sync if command_sync is not None else lambda: {"ok": False},
            titles=lambda: {asset.id: asset.title for asset in store.catalogue.all_assets()},
            now=parts.clock.now,
            volume_percent=parts.settings.playback.volume,
        )
        commands = RemoteCommands(
            actions,
            fetch_open=lambda: client.call_json("GET", "v1/device/commands", what="commands")[
                "items"
            ],
            acknowledge=lambda command_id, state, result: client.call_json(
                "POST",
                f"v1/device/commands/{quote(command_id, safe='')}",
                what="command ack",
                json_body={"state": state} | ({} if result is None else {"result": result}),
            ),
            now=parts.clock.now,
            load_run_ids=store.state.commands_run,
            save_run_ids=store.state.set_commands_run,
        )
        commands.start()
        return commands

    @cached_property
    def push(self) -> PushLink | None:
        """The push link to ``[push] url`` (or to the broker account the API issues,
        ``"issued"``), started; None when push is off."""
        from lomuz_rules.push import parse_broker_url
        from player.adapters.mqtt_push import MqttPushLink
        from player.settings import ISSUED_BROKER

        url = self._parts.settings.push.url
        if url is None:
            return None

        ca_file = self._parts.settings.push.ca_file

        def make_link(broker: BrokerAddress, on_refused: Callable[[], None] | None) -> PushLink:
            return MqttPushLink(
                replace(broker, ca_file=str(ca_file) if ca_file else None),
                self.credentials.device_id,
                self.nudges.on_payload,
                on_command=self.commands.on_payload,
                on_refused=on_refused,
            )

        link = (
            make_link(parse_broker_url(url), None)
            if url != ISSUED_BROKER
            else self._issued(make_link)
        )
        link.start()
        return link

    def _issued(
        self, make_link: Callable[[BrokerAddress, Callable[[], None]], PushLink]
    ) -> PushLink:
        from player import credentials as files
        from player.core.push import BrokerLogin
        from player.runtime.issued_push import IssuedPushLink

        path = self._parts.settings.broker_login_path
        client, device_id = self.client, self.credentials.device_id

        def ask() -> BrokerLogin:
            answer = client.call_json("POST", "v1/device/push-credentials", what="push credentials")
            return BrokerLogin(str(answer["url"]), str(answer["username"]), str(answer["password"]))

        def load() -> BrokerLogin | None:
            stored = files.load_broker_login(path)
            # Another device's account (the box enrolled anew since): ask for its own.
            return stored if stored is None or stored.username == device_id else None

        return IssuedPushLink(
            ask=ask,
            load=load,
            save=lambda login: files.save_broker_login(path, login),
            forget=lambda: files.forget_broker_login(path),
            make_link=make_link,
            monotonic=self._parts.clock.monotonic,
        )

    def push_status(self) -> PushStatus:
        """``off`` without ``[push] url`` or before ``start()``; else the link's state."""
        from player.core.push import PushStatus

        if self._parts.settings.push.url is None or "push" not in self.__dict__:
            return PushStatus("off")
        link = self.push
        return PushStatus("connected" if link is not None and link.connected else "disconnected")

    def start(self) -> None:
        """Start the downloads (they queue what the catalogue needs), the telemetry and
        the push link (when ``[push] url`` is set)."""
        self.downloads  # noqa: B018
        self.telemetry  # noqa: B018
        self.commands  # noqa: B018
        self.push  # noqa: B018

    def upload_plays_before_stop(self) -> None:
        """At stop: one bounded upload attempt for pending plays (telemetry built only)."""
        if not self.has_telemetry():
            return
        try:
            self.telemetry.upload_plays()
        except PlayerError as exc:
            log.info("pending plays stay queued for the next start: %s", exc)

    def pick_up_commands(self) -> None:
        """After a sync: ask for the commands the broker did not deliver (if built)."""
        if "commands" in self.__dict__:
            self.commands.pick_up()

    def has_downloads(self) -> bool:
        return "downloads" in self.__dict__

    def has_telemetry(self) -> bool:
        return "telemetry" in self.__dict__

    def close(self) -> None:
        push = self.__dict__.get("push")
        if push is not None:
            push.stop()
        if "nudges" in self.__dict__:
            self.nudges.stop()
        if "commands" in self.__dict__:
            self.commands.stop()
        if self.has_downloads():
            self.downloads.stop()
        self.client.close()
