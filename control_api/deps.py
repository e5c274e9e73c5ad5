"""What resources are given by the composition root (``create_app``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from control_api.broker_accounts import BrokerAccounts, UnmanagedBrokerAccounts
from control_api.manifest_cache import ManifestCache
from control_api.media import MediaStore
from control_api.metrics import Metrics
from control_api.passwords import Passwords
from control_api.push_publisher import NudgePublisher, NullPublisher
from control_api.revisions import RevisionCache
from control_api.services.manifest import Planned
from control_api.settings import Settings
from control_api.store.db import Database


@dataclass(frozen=True)
class Deps:
    settings: Settings
    db: Database
    media: MediaStore
    metrics: Metrics
    now: Callable[[], datetime]
    revisions: RevisionCache
    manifests: ManifestCache[Planned] = field(default_factory=lambda: ManifestCache(0))
    passwords: Passwords = field(default_factory=Passwords)
    publisher: NudgePublisher = field(default_factory=NullPublisher)  # nudges and commands
    # Telemetry queued webhook deliveries: the sender looks at once (Alerting.wake).
    wake_webhook_sender: Callable[[], None] = lambda: None
    # Devices' broker accounts (LOMUZ_MQTT_MANAGE_ACCOUNTS); unmanaged: none issued.
    broker_accounts: BrokerAccounts = field(default_factory=UnmanagedBrokerAccounts)
    # A deletion of a broker account was recorded: the revocation thread looks at once
    # (BrokerRevocations.wake; nothing when the API manages no accounts).
    wake_broker_revocations: Callable[[], None] = lambda: None
    # An audio or video asset was uploaded: the measurer looks at once (Measurer.wake;
    # nothing when LOMUZ_MEASURE_LOUDNESS is off).
    wake_measurer: Callable[[], None] = lambda: None
